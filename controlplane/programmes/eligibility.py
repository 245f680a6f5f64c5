"""Who may join a programme: the one place for the rule, as a list of reasons (empty: eligible)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from controlplane.programmes.catalogue import Programme, add_months


@dataclass(frozen=True)
class Profile:
    """What eligibility reads of an organisation (its row, or a table of test cases)."""

    kind: str
    sector: str | None
    employees: int | None
    founded_on: date | None


def ineligibility(programme: Programme, profile: Profile, today: date) -> list[str]:
    """Why `profile` may not join `programme` on `today`; every failed condition, so one answer says all."""
    rules = programme.eligibility
    reasons = []
    kinds = [k.value for k in rules.kinds]
    if profile.kind not in kinds:
        reasons.append(f"open to {' and '.join(kinds)} organisations, not {profile.kind}")
    if rules.sectors:
        sectors = ", ".join(s.value for s in rules.sectors)
        if profile.sector is None:
            reasons.append(f"the organisation's sector is not recorded (open to {sectors})")
        elif profile.sector not in {s.value for s in rules.sectors}:
            reasons.append(f"open to the sectors {sectors}, not {profile.sector}")
    if rules.employees is not None:
        if profile.employees is None:
            reasons.append("the organisation's employee count is not recorded")
        elif not rules.employees.holds(profile.employees):
            reasons.append(f"open to {rules.employees.describe()} employees, not {profile.employees}")
    if rules.age is not None:
        if profile.founded_on is None:
            reasons.append("the organisation's founding date is not recorded")
        else:
            if rules.age.max_years is not None and add_months(profile.founded_on, 12 * rules.age.max_years) <= today:
                reasons.append(f"open to organisations founded less than {rules.age.max_years} years ago; "
                               f"founded on {profile.founded_on.isoformat()}")
            if rules.age.min_years is not None and add_months(profile.founded_on, 12 * rules.age.min_years) > today:
                reasons.append(f"open to organisations founded at least {rules.age.min_years} years ago; "
                               f"founded on {profile.founded_on.isoformat()}")
            if profile.founded_on > today:
                reasons.append(f"the founding date {profile.founded_on.isoformat()} is in the future")
    return reasons
