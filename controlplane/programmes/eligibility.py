"""Who may join a programme: the one place for the rule, as a list of reasons (empty: eligible)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from controlplane.errors import Detail
from controlplane.programmes.catalogue import Programme, add_months


@dataclass(frozen=True)
class Profile:
    """What eligibility reads of an organisation (its row, or a table of test cases)."""

    kind: str
    sector: str | None
    employees: int | None
    founded_on: date | None


def ineligibility(programme: Programme, profile: Profile, today: date) -> list[Detail]:
    """Why `profile` may not join `programme` on `today`; every failed condition, so one answer says all.
    Details, so that a problem quoting them can be said in its reader's language."""
    rules = programme.eligibility
    reasons: list[Detail] = []
    kinds = [k.value for k in rules.kinds]
    if profile.kind not in kinds:
        reasons.append(Detail("open to {kinds} organisations, not {kind}", kinds=kinds, kind=profile.kind))
    if rules.sectors:
        sectors = ", ".join(s.value for s in rules.sectors)
        if profile.sector is None:
            reasons.append(Detail("the organisation's sector is not recorded (open to {sectors})", sectors=sectors))
        elif profile.sector not in {s.value for s in rules.sectors}:
            reasons.append(
                Detail("open to the sectors {sectors}, not {sector}", sectors=sectors, sector=profile.sector)
            )
    if rules.employees is not None:
        if profile.employees is None:
            reasons.append(Detail("the organisation's employee count is not recorded"))
        elif not rules.employees.holds(profile.employees):
            reasons.append(
                Detail(
                    "open to {band} employees, not {employees}",
                    band=rules.employees.describe(),
                    employees=profile.employees,
                )
            )
    if rules.age is not None:
        if profile.founded_on is None:
            reasons.append(Detail("the organisation's founding date is not recorded"))
        else:
            if rules.age.max_years is not None and add_months(profile.founded_on, 12 * rules.age.max_years) <= today:
                reasons.append(
                    Detail.counted(
                        "open to organisations founded less than {years} year ago; founded on {founded_on}",
                        "open to organisations founded less than {years} years ago; founded on {founded_on}",
                        rules.age.max_years,
                        years=rules.age.max_years,
                        founded_on=profile.founded_on,
                    )
                )
            if rules.age.min_years is not None and add_months(profile.founded_on, 12 * rules.age.min_years) > today:
                reasons.append(
                    Detail.counted(
                        "open to organisations founded at least {years} year ago; founded on {founded_on}",
                        "open to organisations founded at least {years} years ago; founded on {founded_on}",
                        rules.age.min_years,
                        years=rules.age.min_years,
                        founded_on=profile.founded_on,
                    )
                )
            if profile.founded_on > today:
                reasons.append(Detail("the founding date {founded_on} is in the future", founded_on=profile.founded_on))
    return reasons
