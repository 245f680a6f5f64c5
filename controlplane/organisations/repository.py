"""The organisations' and their memberships' rows, and the one visibility rule over them.

The rule lives here, beside the memberships it reads, and `controlplane.access` exports it: every
repository that lists or fetches an organisation's rows for a caller filters with `visible_to`.
Nothing here commits; the caller's transaction does."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, func, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute, Session

from controlplane.domain.principal import Principal
from controlplane.domain.states import MemberRole, OrganisationStatus
from controlplane.pagination import Page, paginate
from controlplane.persistence.models import Membership, Organisation

T = TypeVar("T")


def member_of(subject: str) -> Select[Any]:
    """The ids of the organisations `subject` is a stored member of, as a subquery."""
    return select(Membership.organisation_id).where(Membership.subject == subject)


def visible_to(principal: Principal, organisation_id: InstrumentedAttribute[str]) -> ColumnElement[bool]:
    """The one visibility rule, as a WHERE clause over a row's organisation column: staff see every
    organisation; anyone else sees those they are a stored member of or that their token claims."""
    if principal.is_staff:
        return true()
    return or_(
        organisation_id.in_(member_of(principal.subject)),
        organisation_id.in_(sorted(principal.claimed_organisations)),
    )


def visible_row(
    session: Session, principal: Principal, model: type[T], row_id: str, *, for_update: bool = False
) -> T | None:
    """Any organisation's row (a model with `id` and `organisation_id`) by id, if the caller may see it."""
    statement = select(model).where(
        model.id == row_id,  # type: ignore[attr-defined]
        visible_to(principal, model.organisation_id),  # type: ignore[attr-defined]
    )
    return session.scalar(statement.with_for_update() if for_update else statement)


# -- organisations -------------------------------------------------------------


def get(session: Session, organisation_id: str) -> Organisation | None:
    return session.get(Organisation, organisation_id)


def get_one(session: Session, organisation_id: str) -> Organisation:
    """An organisation a row already refers to (its foreign key guarantees it exists)."""
    return session.get_one(Organisation, organisation_id)


def get_visible(session: Session, principal: Principal, organisation_id: str) -> Organisation | None:
    return session.scalar(
        select(Organisation).where(Organisation.id == organisation_id, visible_to(principal, Organisation.id))
    )


def page_visible(session: Session, principal: Principal, cursor: str | None, limit: int) -> Page[Organisation]:
    return paginate(
        session, select(Organisation).where(visible_to(principal, Organisation.id)), Organisation, cursor, limit
    )


def lock_key_share(session: Session, organisation_id: str) -> None:
    """Serialise writers of one organisation (FOR NO KEY UPDATE: rows that reference it still insert);
    on SQLite every transaction already holds the write lock."""
    session.execute(select(Organisation.id).where(Organisation.id == organisation_id).with_for_update(key_share=True))


def add(session: Session, organisation: Organisation, admin: Membership) -> None:
    """A new organisation and its first admin."""
    session.add(organisation)
    session.flush()  # the membership's foreign key needs the row first (no ORM relationship orders them)
    session.add(admin)
    session.flush()


def add_organisation(session: Session, organisation: Organisation) -> None:
    session.add(organisation)
    session.flush()


def verified_holder(session: Session, organisation: Organisation) -> str | None:
    """Another verified organisation with the same kind of national ID and the same number."""
    return session.scalar(
        select(Organisation.id).where(
            Organisation.kind == organisation.kind,
            Organisation.national_id == organisation.national_id,
            Organisation.status == OrganisationStatus.VERIFIED.value,
            Organisation.id != organisation.id,
        )
    )


# -- memberships ---------------------------------------------------------------


def stored_role(session: Session, organisation_id: str, subject: str) -> MemberRole | None:
    role = session.scalar(
        select(Membership.role).where(Membership.organisation_id == organisation_id, Membership.subject == subject)
    )
    return MemberRole(role) if role else None


def members(session: Session, organisation_id: str) -> list[Membership]:
    return list(
        session.scalars(
            select(Membership)
            .where(Membership.organisation_id == organisation_id)
            .order_by(Membership.created_at, Membership.subject)
        )
    )


def membership(session: Session, organisation_id: str, subject: str) -> Membership | None:
    return session.get(Membership, (organisation_id, subject))


def add_membership(session: Session, member: Membership) -> None:
    session.add(member)


def take_seed_lock(session: Session, key: int) -> None:
    """Processes seeding the same rows at once take turns on PostgreSQL (SQLite transactions already do)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(key)))


def remove_membership(session: Session, member: Membership) -> None:
    session.delete(member)


def count_admins(session: Session, organisation_id: str) -> int:
    admins = session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(Membership.organisation_id == organisation_id, Membership.role == MemberRole.ADMIN.value)
    )
    return admins or 0
