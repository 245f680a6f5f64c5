"""The webhook deliveries' rows. Lists and fetches for a caller filter with the one visibility rule
(`access.visible_to`); the deliverer's look-ups by id are unfiltered. Nothing here commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from controlplane.access import visible_to
from controlplane.domain.principal import Principal
from controlplane.pagination import Page, paginate
from controlplane.persistence.models import WebhookDelivery


def page_visible(
    session: Session,
    principal: Principal,
    organisation_id: str,
    cursor: str | None,
    limit: int,
    state: str | None = None,
) -> Page[WebhookDelivery]:
    """The organisation's deliveries, oldest first."""
    statement = select(WebhookDelivery).where(
        WebhookDelivery.organisation_id == organisation_id, visible_to(principal, WebhookDelivery.organisation_id)
    )
    if state is not None:
        statement = statement.where(WebhookDelivery.state == state)
    return paginate(session, statement, WebhookDelivery, cursor, limit)


def get_visible(
    session: Session, principal: Principal, organisation_id: str, delivery_id: str, *, for_update: bool = False
) -> WebhookDelivery | None:
    """One of the organisation's deliveries, if the caller may see it."""
    statement = select(WebhookDelivery).where(
        WebhookDelivery.id == delivery_id,
        WebhookDelivery.organisation_id == organisation_id,
        visible_to(principal, WebhookDelivery.organisation_id),
    )
    return session.scalar(statement.with_for_update() if for_update else statement)


# -- by id, for the deliverer ------------------------------------------------------


def locked(session: Session, delivery_id: str) -> WebhookDelivery | None:
    return session.get(WebhookDelivery, delivery_id, with_for_update=True)


def locked_one(session: Session, delivery_id: str) -> WebhookDelivery:
    return session.get_one(WebhookDelivery, delivery_id, with_for_update=True)


def add(session: Session, delivery: WebhookDelivery) -> None:
    session.add(delivery)


def due_before(session: Session, state: str, before: datetime, limit: int) -> list[str]:
    """Deliveries in `state` whose next attempt was due before `before`, the most overdue first."""
    return list(
        session.scalars(
            select(WebhookDelivery.id)
            .where(WebhookDelivery.state == state, WebhookDelivery.next_attempt_at <= before)
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
        )
    )


def delete_settled_before(session: Session, states: tuple[str, ...], before: datetime) -> None:
    """Drop the deliveries in `states` last touched before `before`."""
    session.execute(
        delete(WebhookDelivery).where(WebhookDelivery.state.in_(states), WebhookDelivery.updated_at < before)
    )
