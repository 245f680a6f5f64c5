"""The baseline of bench/admission.py: a bare FastAPI app that parses a body like a quota request's
and answers 201 with JSON, and does nothing else (no token, no database). Served by uvicorn with as
many workers as Sahab: `uvicorn bare_app:app --app-dir bench --workers N`."""

from __future__ import annotations

import uuid

from fastapi import FastAPI, status
from pydantic import BaseModel, Field

app = FastAPI()


class Body(BaseModel):
    organisation_id: str
    region: str
    environment: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")
    preset: str | None = None
    amounts: dict[str, int] = Field(default_factory=dict)
    justification: str = Field(min_length=3, max_length=2000)


class Answer(Body):
    id: str
    state: str


@app.post("/v1/quota-requests", status_code=status.HTTP_201_CREATED, response_model=Answer)
def create(body: Body) -> Answer:
    return Answer(id=f"req_{uuid.uuid4().hex[:20]}", state="approved", **body.model_dump())
