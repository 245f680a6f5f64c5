"""The schema jobs of a cold start: per component, the commands that create its database schema (and
keystone's bootstrap), in order. A step with `done` is skipped when that says it already ran."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .services import AUTH_URL, REGION_ONE, Paths, Region

# the components with a schema job, in the order their jobs are started (all run in parallel)
COMPONENTS = ("keystone", "placement", "glance", "nova", "cinder", "neutron")
REGIONAL = ("placement", "nova", "cinder", "neutron")  # keystone and glance are shared


@dataclass(frozen=True)
class Step:
    argv: list[str]
    done: Callable[[], bool] | None = None


def job_name(component: str, region: Region) -> str:
    """setup-<job>.log: keystone ... neutron, r2placement ... r2neutron."""
    return region.prefix.replace("-", "") + component


def jobs(region: Region) -> list[str]:
    return [job_name(c, region) for c in (COMPONENTS if region == REGION_ONE else REGIONAL)]


def component_of(job: str, region: Region) -> str:
    return job.removeprefix(region.prefix.replace("-", ""))


def _exists(path: Path) -> Callable[[], bool]:
    return path.exists


def _cell1_exists(nova: list[str]) -> Callable[[], bool]:
    def done() -> bool:
        cells = subprocess.run([*nova, "cell_v2", "list_cells"], capture_output=True, text=True)
        return " cell1 " in cells.stdout

    return done


def steps(component: str, p: Paths, region: Region) -> list[Step]:
    b, root = p.state, region.root(p.state)
    if component == "keystone":
        k = ["keystone-manage", "--config-file", str(b / "keystone" / "keystone.conf")]
        owner = ["--keystone-user", "root", "--keystone-group", "root"]
        bootstrap = ["--bootstrap-password", "secret", "--bootstrap-username", "admin"]
        bootstrap += ["--bootstrap-project-name", "admin", "--bootstrap-role-name", "admin"]
        bootstrap += ["--bootstrap-service-name", "keystone", "--bootstrap-region-id", REGION_ONE.name]
        for interface in ("admin", "internal", "public"):
            bootstrap += [f"--bootstrap-{interface}-url", AUTH_URL]
        return [
            Step([*k, "fernet_setup", *owner], _exists(b / "keystone" / "fernet-keys" / "0")),
            Step([*k, "credential_setup", *owner], _exists(b / "keystone" / "credential-keys" / "0")),
            Step([*k, "db_sync"]),
            Step([*k, "bootstrap", *bootstrap]),
        ]
    if component == "placement":
        return [Step(["placement-manage", "--config-file", str(root / "placement" / "placement.conf"), "db", "sync"])]
    if component == "glance":
        return [Step(["glance-manage", "--config-file", str(b / "glance" / "glance-api.conf"), "db_sync"])]
    if component == "nova":
        n = ["nova-manage", "--config-file", str(root / "nova" / "nova.conf")]
        n += ["--config-file", str(root / "nova" / "nova-db.conf")]
        return [
            Step([*n, "api_db", "sync"]),
            Step([*n, "cell_v2", "map_cell0", "--database_connection", region.db("nova_cell0")]),
            # create_cell takes [database]/connection and [DEFAULT]/transport_url from the config
            Step([*n, "cell_v2", "create_cell", "--name", "cell1"], _cell1_exists(n)),
            Step([*n, "db", "sync"]),  # migrates cell0 and cell1
        ]
    if component == "cinder":
        return [Step(["cinder-manage", "--config-file", str(root / "cinder" / "cinder.conf"), "db", "sync"])]
    if component == "neutron":
        conf = ["--config-file", str(root / "neutron" / "neutron.conf")]
        conf += ["--config-file", str(root / "neutron" / "ml2_conf.ini")]
        return [Step(["neutron-db-manage", *conf, "upgrade", "heads"])]
    raise ValueError(component)
