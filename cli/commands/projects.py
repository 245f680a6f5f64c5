"""sahab projects ..."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
import yaml

from cli.awsprofile import s3_section, write_profile
from cli.config import write_private
from cli.context import handled, state
from cli.i18n import N_, _
from cli.output import JSON, amounts, details, echo, print_json, render, table, when

app = typer.Typer(help="Projects: the OpenStack projects your quota lives in.", no_args_is_help=True)


def _project_details(p: dict[str, Any]) -> Any:
    return details(
        [
            (N_("id"), p["id"]),
            (N_("organisation"), p["organisation_id"]),
            (N_("region"), p["region_id"]),
            (N_("environment"), p["environment"]),
            (N_("state"), p["state"]),
            (N_("granted"), amounts(p["granted"])),
            (N_("current request"), p.get("current_request_id")),
            (N_("openstack project"), p.get("openstack_project_id")),
            (N_("last error"), p.get("last_error")),
            (N_("last usage"), amounts(p.get("last_usage"))),
            (N_("usage measured"), when(p.get("last_usage_at"))),
            (N_("created"), when(p["created_at"])),
            (N_("updated"), when(p["updated_at"])),
        ]
    )


@app.command("list")
@handled
def list_(
    ctx: typer.Context,
    org: str | None = typer.Option(None, "--org"),
    region: str | None = typer.Option(None, "--region"),
    all_pages: bool = typer.Option(False, "--all", help="fetch every page"),
) -> None:
    """Projects you can see."""
    current = state(ctx)
    with current.api() as api:
        page = api.page("/v1/projects", {"organisation_id": org, "region": region}, all_pages=all_pages)
    render(
        current.output,
        page,
        lambda p: table(
            [N_("ID"), N_("Organisation"), N_("Region"), N_("Env"), N_("State"), N_("Granted"), N_("Updated")],
            [
                [
                    x["id"],
                    x["organisation_id"],
                    x["region_id"],
                    x["environment"],
                    x["state"],
                    amounts(x["granted"], ("vcpus", "ram_mib", "instances", "volume_gib")),
                    when(x["updated_at"]),
                ]
                for x in p["items"]
            ],
            title=N_("Projects"),
        ),
    )


@app.command()
@handled
def show(ctx: typer.Context, project_id: str = typer.Argument(..., metavar="ID")) -> None:
    """One project."""
    current = state(ctx)
    with current.api() as api:
        data = api.get(f"/v1/projects/{project_id}")
    render(current.output, data, _project_details)


@app.command()
@handled
def credentials(
    ctx: typer.Context,
    project_id: str = typer.Argument(..., metavar="ID"),
    write: Path | None = typer.Option(None, "--write", metavar="PATH", help="write clouds.yaml here (mode 0600)"),
    s3_profile: str | None = typer.Option(
        None,
        "--s3-profile",
        metavar="NAME",
        help="write the project's S3 credentials as aws-cli profile NAME (~/.aws/credentials and config, mode 0600)",
    ),
) -> None:
    """The project's clouds.yaml (contains a secret). Organisation admins only."""
    current = state(ctx)
    with current.api() as api:
        data = api.get(f"/v1/projects/{project_id}/credentials")
    document = yaml.safe_dump(data, sort_keys=False)
    if s3_profile is not None:
        credentials_file, config_file = write_profile(s3_profile, s3_section(data))
        echo(
            _(
                "Wrote profile {profile} to {credentials} and {config} (mode 0600): aws --profile {profile} s3 ls"
            ).format(profile=s3_profile, credentials=credentials_file, config=config_file)
        )
    if write is not None:
        write_private(write, document)
        echo(_("Wrote {path} (mode 0600).").format(path=write))
    elif s3_profile is not None:
        pass
    elif current.output == JSON:
        print_json(data)
    else:
        typer.echo(document, nl=False)


@app.command()
@handled
def decommission(
    ctx: typer.Context,
    project_id: str = typer.Argument(..., metavar="ID"),
    yes: bool = typer.Option(False, "--yes", "-y", help="do not ask for confirmation"),
    reason: str | None = typer.Option(None, "--reason"),
    force: bool = typer.Option(
        False, "--force", help="operators: even while its object storage holds data (the data stays in Swift)"
    ),
) -> None:
    """Remove the project from the cloud and release its quota."""
    current = state(ctx)
    if not yes and not typer.confirm(
        _("Decommission project {id}? Its OpenStack resources will be deleted").format(id=project_id)
    ):
        echo(_("Not decommissioned."))
        raise typer.Exit(1)
    with current.api() as api:
        data = api.post(
            f"/v1/projects/{project_id}/decommission",
            json={"reason": reason},
            params={"force": "true"} if force else None,
        )
    render(current.output, data, lambda p: _("Project {id} is {state}.").format(id=p["id"], state=p["state"]))
