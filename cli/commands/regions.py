"""regions and usage (top-level commands)."""

from __future__ import annotations

from enum import Enum
from typing import Any

import typer

from cli.context import handled, state
from cli.i18n import N_, _, number
from cli.output import amounts, render, table, when

MAIN_RESOURCES = ("vcpus", "ram_mib", "instances", "volume_gib")


def register(app: typer.Typer) -> None:
    app.command()(regions)
    app.command()(usage)


@handled
def regions(ctx: typer.Context) -> None:
    """Regions, their status and the free capacity of the main resources."""
    current = state(ctx)
    with current.api() as api:
        data = api.get("/v1/regions")
    render(current.output, data, _regions_table)


def _free(region: dict[str, Any], resource: str) -> str:
    capacity = region.get("resources", {}).get(resource) or {}
    free = capacity.get("free", "")
    if resource == "ram_mib" and isinstance(free, int):
        return f"{number(free // 1024)} GiB"
    if resource == "volume_gib":
        return f"{number(free)} GiB"
    return number(free)


def _reserves(region: dict[str, Any]) -> str:
    """Each programme's reserve, beside the general pool's free capacity: its vCPUs free of those reserved."""
    return (
        "\n".join(
            _("{programme}: {free} of {reserved} vCPUs free").format(
                programme=programme,
                free=number(reserve.get("vcpus", {}).get("free", 0)),
                reserved=number(reserve.get("vcpus", {}).get("reserved", 0)),
            )
            for programme, reserve in sorted((region.get("programmes") or {}).items())
        )
        or "-"
    )


def _regions_table(data: list[dict[str, Any]]) -> Any:
    """The free columns are the general pool's; the programmes' reserves are kept out of it."""
    return table(
        [
            N_("ID"),
            N_("Name"),
            N_("Status"),
            N_("Free vCPUs"),
            N_("Free RAM"),
            N_("Free instances"),
            N_("Free volume"),
            N_("Programme reserves"),
        ],
        [[r["id"], r["name"], r["status"], *(_free(r, res) for res in MAIN_RESOURCES), _reserves(r)] for r in data],
        title=N_("Regions"),
    )


GROUP_HEADERS = {"project": N_("Project"), "region": N_("Region"), "organisation": N_("Organisation")}


class GroupBy(str, Enum):
    project = "project"
    region = "region"
    organisation = "organisation"


@handled
def usage(
    ctx: typer.Context,
    org: str | None = typer.Option(None, "--org", help="organisation id"),
    region: str | None = typer.Option(None, "--region", help="region id"),
    from_: str | None = typer.Option(
        None, "--from", metavar="ISO8601", help="start of a period report (default: --to minus 30 days)"
    ),
    to: str | None = typer.Option(None, "--to", metavar="ISO8601", help="end of a period report (default: now)"),
    by: GroupBy | None = typer.Option(None, "--by", help="group a period report by project, region or organisation"),
) -> None:
    """Granted quota and the last measured usage of your live projects; with --from/--to/--by, usage
    over a period: vCPU-hours, RAM GiB-hours, volume GiB-hours, peak and average vs granted."""
    current = state(ctx)
    params = {"organisation_id": org, "region": region}
    if from_ or to or by:
        params.update({"from": from_, "to": to, "by": by.value if by else None})
        with current.api() as api:
            data = api.get("/v1/usage", params=params)
        render(current.output, data, _report_table)
        return
    with current.api() as api:
        data = api.get("/v1/usage", params=params)
    render(
        current.output,
        data,
        lambda rows: table(
            [N_("Project"), N_("Organisation"), N_("Region"), N_("Env"), N_("Granted"), N_("Used"), N_("Measured")],
            [
                [
                    u["project_id"],
                    u["organisation_id"],
                    u["region_id"],
                    u["environment"],
                    amounts(u["granted"], MAIN_RESOURCES),
                    amounts(u.get("used"), MAIN_RESOURCES) or "-",
                    when(u.get("measured_at")) or "-",
                ]
                for u in rows
            ],
            title=N_("Usage"),
        ),
    )


def _report_table(rows: list[dict[str, Any]]) -> Any:
    def vcpus(row: dict[str, Any], key: str) -> Any:
        return row["resources"]["vcpus"][key]

    def key(row: dict[str, Any]) -> str:
        return row.get("project_id") or row.get("region_id") or row.get("organisation_id") or ""

    by = rows[0]["by"] if rows else "project"
    return table(
        [
            GROUP_HEADERS.get(by, by),
            N_("From"),
            N_("To"),
            N_("Projects"),
            N_("vCPU-h"),
            N_("RAM GiB-h"),
            N_("Volume GiB-h"),
            N_("Object GiB-h"),
            N_("vCPUs peak"),
            N_("vCPUs avg"),
            N_("vCPUs granted"),
        ],
        [
            [
                key(r),
                when(r["from"]),
                when(r["to"]),
                *map(
                    number,
                    (
                        r["projects"],
                        r["vcpu_hours"],
                        r["ram_gib_hours"],
                        r["volume_gib_hours"],
                        r.get("object_gib_hours", 0),
                        vcpus(r, "peak"),
                        vcpus(r, "average"),
                        vcpus(r, "granted"),
                    ),
                ),
            ]
            for r in rows
        ],
        title=N_("Usage report"),
    )
