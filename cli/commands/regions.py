"""regions and usage (top-level commands)."""

from __future__ import annotations

from typing import Any, Optional

import typer

from cli.context import handled, state
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
        return f"{free // 1024} GiB"
    if resource == "volume_gib":
        return f"{free} GiB"
    return str(free)


def _regions_table(data: list[dict[str, Any]]) -> Any:
    return table(
        ["ID", "Name", "Status", "Free vCPUs", "Free RAM", "Free instances", "Free volume"],
        [[r["id"], r["name"], r["status"], *(_free(r, res) for res in MAIN_RESOURCES)] for r in data],
        title="Regions",
    )


@handled
def usage(
    ctx: typer.Context,
    org: Optional[str] = typer.Option(None, "--org", help="organisation id"),
    region: Optional[str] = typer.Option(None, "--region", help="region id"),
) -> None:
    """Granted quota and the last measured usage of your live projects."""
    current = state(ctx)
    with current.api() as api:
        data = api.get("/v1/usage", params={"organisation_id": org, "region": region})
    render(current.output, data, lambda rows: table(
        ["Project", "Organisation", "Region", "Env", "Granted", "Used", "Measured"],
        [[u["project_id"], u["organisation_id"], u["region_id"], u["environment"], amounts(u["granted"], MAIN_RESOURCES),
          amounts(u.get("used"), MAIN_RESOURCES) or "-", when(u.get("measured_at")) or "-"] for u in rows],
        title="Usage",
    ))
