"""Programme discounts for billing: what percent off the price list an organisation had, over which dates, and why.

The shape billing reads (its `DiscountSource`): `discounts(session, organisation_id, start, end)`. An enrolment
gives its programme's price (free: 100 %) from the day it started to the day before it ended (the end is
exclusive: from that day the organisation pays the listed price, whatever it chose)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.persistence.models import ProgrammeEnrolment
from controlplane.programmes.service import EnrolmentState

# States in which an enrolment was (or is) held; a pending or rejected application never discounted anything.
_HELD = [s.value for s in (EnrolmentState.ENROLLED, EnrolmentState.EXPIRED, EnrolmentState.CONTINUED,
                           EnrolmentState.SHRINKING, EnrolmentState.ENDED)]


@dataclass(frozen=True)
class Discount:
    start: date  # first day discounted
    end: date  # last day discounted (inclusive)
    percent: Decimal
    programme: str


class ProgrammeDiscounts:
    """Reads the price each enrolment was granted at (kept on it), so a catalogue edit changes no past bill."""

    def discounts(self, session: Session, organisation_id: str, start: date, end: date) -> list[Discount]:
        """The discounts overlapping the days start..end (inclusive), clipped to them, oldest first."""
        found = []
        for enrolment in session.scalars(select(ProgrammeEnrolment).where(
                ProgrammeEnrolment.organisation_id == organisation_id, ProgrammeEnrolment.state.in_(_HELD),
                ProgrammeEnrolment.starts_at.is_not(None)).order_by(ProgrammeEnrolment.starts_at)):
            if enrolment.starts_at is None:
                continue  # (the query asked for enrolments that began)
            first, last = enrolment.starts_at.date(), enrolment.end.date() - timedelta(days=1)
            if last < start or first > end:
                continue
            found.append(Discount(max(first, start), min(last, end), Decimal(enrolment.percent_off or 0), enrolment.programme_id))
        return found
