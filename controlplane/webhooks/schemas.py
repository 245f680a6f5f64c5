from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, HttpUrl, UrlConstraints

from controlplane.webhooks.targets import MAX_URL_LENGTH

DeliveryState = Literal["pending", "delivered", "failed", "cancelled"]


class WebhookIn(BaseModel):
    url: Annotated[HttpUrl, UrlConstraints(max_length=MAX_URL_LENGTH)] = Field(
        description="http(s) URL whose host resolves to public addresses only (unless the operator allow-lists it)"
    )


class WebhookOut(BaseModel):
    organisation_id: str
    url: str | None
    secret: str | None = Field(None, description="shown once, when the webhook is set")
    signature: str | None = None


class DeliveryOut(BaseModel):
    id: str
    organisation_id: str
    state: DeliveryState
    payload: dict[str, Any]
    attempts: int
    last_status: int | None = Field(description="the receiver's last HTTP status, if it answered")
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None

    model_config = {"from_attributes": True}
