"""Programme discounts for billing: what percent off the price list an organisation had, over which dates, and why.

Billing reads it through its `DiscountSource`: `discounts(session, organisation_id, start, end)` over [start, end).
An enrolment gives its programme's price (free: 100 %) from the day it started until the day it ended (exclusive:
from that day the organisation pays the listed price, whatever it chose)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from controlplane.billing.discounts import Discount
from controlplane.programmes import repository
from controlplane.programmes.service import EnrolmentState

# States in which an enrolment was (or is) held; a pending or rejected application never discounted anything.
_HELD = [
    s.value
    for s in (
        EnrolmentState.ENROLLED,
        EnrolmentState.EXPIRED,
        EnrolmentState.CONTINUED,
        EnrolmentState.SHRINKING,
        EnrolmentState.ENDED,
    )
]


class ProgrammeDiscounts:
    """Billing's DiscountSource for programmes. It reads the price each enrolment was granted at (kept on it),
    so a catalogue edit changes no past bill."""

    def discounts(self, session: Session, organisation_id: str, start: date, end: date) -> list[Discount]:
        """The discounts overlapping the days [start, end), clipped to them, oldest first; each ends (exclusive)
        on the day its enrolment ended: from that day the organisation pays the listed price."""
        found = []
        for enrolment in repository.started_enrolments(session, organisation_id, _HELD):
            if enrolment.starts_at is None:
                continue  # (the query asked for enrolments that began)
            first, stop = enrolment.starts_at.date(), enrolment.end.date()
            if stop <= start or first >= end:
                continue
            found.append(
                Discount(max(first, start), min(stop, end), Decimal(enrolment.percent_off or 0), enrolment.programme_id)
            )
        return found
