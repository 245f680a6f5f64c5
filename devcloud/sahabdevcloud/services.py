"""The devcloud's one service table: every process it starts, in start (and `status`) order, with its
ports, command, logs, start conditions and readiness check. RegionTwo's services are derived from
RegionOne's regional ones by `in_region` (ports + 10000, names prefixed `r2-`, configs under `r2/`)."""

from __future__ import annotations

import dataclasses
import os
import signal
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

PY = "/usr/bin/python3"  # Debian's python with the OpenStack libraries (not a venv/pyenv one)
HOST = "127.0.0.1"
PG_PORT = 5433
RABBIT_PORT = 5672
RABBIT_DIST_PORT = 25672
EPMD_PORT = 4369
KEYSTONE_PORT = 5000
PLACEMENT_PORT = 8778
GLANCE_PORT = 9292
NOVA_PORT = 8774
CINDER_PORT = 8776
NEUTRON_PORT = 9696
SWIFT_PROXY_PORT = 8890  # 8080 is Sahab's API
SWIFT_PORTS = {"account": 6202, "container": 6201, "object": 6200}
DB_URL = f"postgresql+psycopg2://openstack:secret@{HOST}:{PG_PORT}"
AUTH_URL = f"http://{HOST}:{KEYSTONE_PORT}/v3"


@dataclass(frozen=True)
class Region:
    """What differs between two regions of the devcloud (keystone and glance are shared)."""

    name: str
    prefix: str  # of service names, pid files and logs
    port_offset: int
    db_suffix: str
    vhost: str  # RabbitMQ vhost ("" = "/")
    compute_host: str
    volume_host: str
    databases: tuple[str, ...]

    def root(self, state: Path) -> Path:
        """Where this region's config files live."""
        return state / self.prefix.rstrip("-") if self.prefix else state

    @property
    def transport_url(self) -> str:
        return f"rabbit://openstack:secret@{HOST}:{RABBIT_PORT}/{self.vhost}"

    def db(self, name: str) -> str:
        return f"{DB_URL}/{name}{self.db_suffix}"


REGION_ONE = Region(
    "RegionOne",
    "",
    0,
    "",
    "",
    "devcloud-compute1",
    "devcloud-cinder",
    ("keystone", "glance", "placement", "nova_api", "nova_cell0", "nova", "cinder", "neutron"),
)
REGION_TWO = Region(
    "RegionTwo",
    "r2-",
    10000,
    "_r2",
    "r2",
    "devcloud-compute2",
    "devcloud-cinder2",
    ("placement_r2", "nova_api_r2", "nova_cell0_r2", "nova_r2", "cinder_r2", "neutron_r2"),
)
REGIONS = {r.name: r for r in (REGION_ONE, REGION_TWO)}


@dataclass(frozen=True)
class Paths:
    state: Path  # the state directory
    here: Path  # the devcloud/ directory of the checkout (lib, pylib, this package)

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def run(self) -> Path:
        return self.state / "run"

    @property
    def swift(self) -> Path:
        return self.state / "swift"


def default_state() -> Path:
    if os.environ.get("SAHAB_DEVCLOUD_STATE"):
        return Path(os.environ["SAHAB_DEVCLOUD_STATE"])
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local/state")
    return Path(base) / "sahab" / "devcloud"


Command = Callable[[Paths, Region, str], list[str]]

# Start conditions (checked before a service starts, each with its timeout in seconds)
RABBIT_UP = "rabbitmq"  # AMQP port open
PLACEMENT_UP = "placement"  # the region's placement answers on its port
KEYSTONE_REGISTERED = "keystone-registered"  # service users and endpoints exist (run/keystone-registered)


@dataclass(frozen=True)
class Service:
    """One process of the devcloud. `name`, `ports` and config paths follow its region."""

    base: str  # RegionOne's name
    job: str | None  # the schema job that must have run before it starts (cold start), None: none
    command: Command | None  # None: started its own way (postgres through pg_ctl)
    base_ports: tuple[int, ...] = ()
    regional: bool = False  # one per region (else one for the whole devcloud)
    region: Region = REGION_ONE
    after: tuple[str, ...] = ()  # start conditions
    ready: str | None = None  # readiness check (cloud.CHECKS)
    env: Callable[[Paths], dict[str, str]] | None = None
    stop_signal: int = signal.SIGTERM
    stop_last: bool = False  # stopped after everything else (epmd: RabbitMQ's stop needs it)
    special_logs: Callable[[Paths], list[Path]] | None = None

    @property
    def name(self) -> str:
        return self.region.prefix + self.base

    @property
    def ports(self) -> tuple[int, ...]:
        return tuple(p + self.region.port_offset for p in self.base_ports)

    def argv(self, paths: Paths) -> list[str]:
        assert self.command is not None, self.name
        return self.command(paths, self.region, self.name)

    def logs(self, paths: Paths) -> list[Path]:
        """Files worth showing when it fails."""
        if self.special_logs:
            return self.special_logs(paths)
        return [paths.logs / f"{self.name}.log", paths.logs / f"{self.name}.out"]


def in_region(service: Service, region: Region) -> Service:
    """The same regional service in another region."""
    assert service.regional, service.base
    return dataclasses.replace(service, region=region)


# ---------------------------------------------------------------- commands
def _nova(binary: str) -> Command:
    def argv(p: Paths, r: Region, name: str) -> list[str]:
        nova = r.root(p.state) / "nova"
        return [
            f"/usr/bin/{binary}",
            "--config-file",
            str(nova / "nova.conf"),
            "--config-file",
            str(nova / "nova-db.conf"),
            "--log-file",
            str(p.logs / f"{name}.log"),
        ]

    return argv


def _nova_compute(p: Paths, r: Region, name: str) -> list[str]:
    # only nova.conf: nova-compute must not have DB access
    conf = r.root(p.state) / "nova" / "nova.conf"
    return [
        PY,
        str(p.state / "bin" / "nova-compute"),
        "--config-file",
        str(conf),
        "--log-file",
        str(p.logs / f"{name}.log"),
    ]


def _cinder(program: str) -> Command:
    def argv(p: Paths, r: Region, name: str) -> list[str]:
        conf = r.root(p.state) / "cinder" / "cinder.conf"
        prefix = [PY, str(p.state / "bin" / "cinder-volume")] if program == "cinder-volume" else [f"/usr/bin/{program}"]
        return [*prefix, "--config-file", str(conf), "--log-file", str(p.logs / f"{name}.log")]

    return argv


def _neutron(p: Paths, r: Region, name: str) -> list[str]:
    neutron = r.root(p.state) / "neutron"
    return [
        "/usr/bin/neutron-server",
        "--config-file",
        str(neutron / "neutron.conf"),
        "--config-file",
        str(neutron / "ml2_conf.ini"),
        "--log-file",
        str(p.logs / f"{name}.log"),
    ]


def _swift(kind: str, conf: str) -> Command:
    def argv(p: Paths, r: Region, name: str) -> list[str]:
        server = p.here / "sahabdevcloud" / "swift_server.py"
        return [PY, str(server), str(p.swift), kind, str(p.swift / conf), "-v"]

    return argv


def rabbit_env(p: Paths) -> dict[str, str]:
    """RabbitMQ runs as the caller with its own HOME (Erlang cookie), config and data under rabbit/."""
    b = p.state / "rabbit"
    dist = "-kernel inet_dist_use_interface {127,0,0,1}"
    return {
        "HOME": str(b),
        "RABBITMQ_NODENAME": "rabbit@localhost",
        "RABBITMQ_CONFIG_FILE": str(b / "rabbitmq.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(b / "enabled_plugins"),
        "RABBITMQ_MNESIA_BASE": str(b / "mnesia"),
        "RABBITMQ_LOG_BASE": str(b / "log"),
        "RABBITMQ_PID_FILE": str(b / "rabbitmq.pid"),
        "RABBITMQ_DIST_PORT": str(RABBIT_DIST_PORT),
        "ERL_EPMD_ADDRESS": HOST,
        "ERL_EPMD_PORT": str(EPMD_PORT),
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": dist,
        "RABBITMQ_CTL_ERL_ARGS": dist,
    }


def _rabbit_logs(p: Paths) -> list[Path]:
    logs = sorted((p.state / "rabbit" / "log").glob("*.log"))
    return [p.logs / "rabbitmq.out", *logs[:1]]


def _neutron_env(p: Paths) -> dict[str, str]:
    # devcloud_mech (pylib, with its dist-info entry point): the agent-less ML2 driver
    return {"PYTHONPATH": str(p.here / "pylib")}


def _fixed(*argv: str) -> Command:
    return lambda p, r, name: list(argv)


# ---------------------------------------------------------------- the table
RABBIT_AFTER = (RABBIT_UP,)
TABLE: tuple[Service, ...] = (
    Service(
        "postgres",
        None,
        None,
        (PG_PORT,),
        stop_signal=signal.SIGINT,  # fast shutdown
        special_logs=lambda p: [p.state / "pg" / "postgres.log"],
    ),
    Service(
        "epmd", None, _fixed("/usr/bin/epmd", "-address", HOST, "-port", str(EPMD_PORT)), (EPMD_PORT,), stop_last=True
    ),
    Service(
        "rabbitmq",
        None,
        _fixed("/usr/lib/rabbitmq/bin/rabbitmq-server"),
        (RABBIT_PORT, RABBIT_DIST_PORT),
        env=rabbit_env,
        special_logs=_rabbit_logs,
    ),
    Service(
        "keystone",
        "keystone",
        lambda p, r, n: ["uwsgi", "--ini", str(p.state / "keystone" / "uwsgi.ini")],
        (KEYSTONE_PORT,),
        ready="identity",
    ),
    Service(
        "placement",
        "placement",
        lambda p, r, n: ["uwsgi", "--ini", str(r.root(p.state) / "placement" / "uwsgi.ini")],
        (PLACEMENT_PORT,),
        regional=True,
        ready="placement",
    ),
    Service(
        "glance-api",
        "glance",
        lambda p, r, n: ["/usr/bin/glance-api", "--config-file", str(p.state / "glance" / "glance-api.conf")],
        (GLANCE_PORT,),
        ready="image",
    ),
    Service("nova-api", "nova", _nova("nova-api"), (NOVA_PORT,), True, after=RABBIT_AFTER, ready="compute-api"),
    Service("nova-conductor", "nova", _nova("nova-conductor"), (), True, after=RABBIT_AFTER, ready="compute-service"),
    Service("nova-scheduler", "nova", _nova("nova-scheduler"), (), True, after=RABBIT_AFTER, ready="compute-service"),
    Service(
        "nova-compute",
        "nova",
        _nova_compute,
        (),
        True,
        # placement must answer and keystone know the service users, or it fails its first report
        after=(RABBIT_UP, KEYSTONE_REGISTERED, PLACEMENT_UP),
        ready="compute-host",
    ),
    Service(
        "cinder-api", "cinder", _cinder("cinder-api"), (CINDER_PORT,), True, after=RABBIT_AFTER, ready="volume-api"
    ),
    Service(
        "cinder-scheduler", "cinder", _cinder("cinder-scheduler"), (), True, after=RABBIT_AFTER, ready="volume-service"
    ),
    Service("cinder-volume", "cinder", _cinder("cinder-volume"), (), True, after=RABBIT_AFTER, ready="volume-service"),
    Service(
        "neutron-server",
        "neutron",
        _neutron,
        (NEUTRON_PORT,),
        True,
        after=RABBIT_AFTER,
        ready="network",
        env=_neutron_env,
    ),
    # Swift (object storage, RegionOne only): one device, one replica, servers with workers = 0
    Service("swift-account", "swift", _swift("account-server", "account-server.conf"), (SWIFT_PORTS["account"],)),
    Service(
        "swift-container", "swift", _swift("container-server", "container-server.conf"), (SWIFT_PORTS["container"],)
    ),
    Service("swift-object", "swift", _swift("object-server", "object-server.conf"), (SWIFT_PORTS["object"],)),
    Service("swift-container-updater", "swift", _swift("container-updater", "container-server.conf")),
    Service(
        "swift-proxy", "swift", _swift("proxy-server", "proxy-server.conf"), (SWIFT_PROXY_PORT,), ready="object-store"
    ),
)


def region_services(region: Region, table: Iterable[Service] = TABLE) -> list[Service]:
    """RegionOne: the whole table; another region: RegionOne's regional services moved there."""
    if region == REGION_ONE:
        return list(table)
    return [in_region(s, region) for s in table if s.regional]


def services(with_region_two: bool) -> list[Service]:
    """The services of this devcloud, in start and `status` order."""
    return region_services(REGION_ONE) + (region_services(REGION_TWO) if with_region_two else [])


def by_name(name: str) -> Service:
    for s in services(True):
        if s.name == name:
            return s
    raise KeyError(name)


def all_ports(with_region_two: bool = True) -> set[int]:
    return {p for s in services(with_region_two) for p in s.ports}


def catalogue_services(region: Region) -> list[Service]:
    """The services `cloud.register` puts in the region's keystone catalogue (HTTP APIs with a service
    user): the region's own, and the shared ones (glance) for every region."""
    return [in_region(s, region) if s.regional else s for s in TABLE if s.base in CATALOGUE]


# Keystone catalogue entries: base service -> (service user, catalogue name, type, path after host:port)
CATALOGUE = {
    "glance-api": ("glance", "glance", "image", ""),
    "placement": ("placement", "placement", "placement", ""),
    "nova-api": ("nova", "nova", "compute", "/v2.1"),
    "cinder-api": ("cinder", "cinderv3", "volumev3", "/v3/%(project_id)s"),
    "neutron-server": ("neutron", "neutron", "network", ""),
}
