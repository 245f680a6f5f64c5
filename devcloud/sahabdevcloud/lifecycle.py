"""`up`, `down`, `status` and `env`, driven by the service table."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from . import configs, processes, schema
from .output import Failed, elapsed, redirect, say
from .services import (
    HOST,
    KEYSTONE_REGISTERED,
    PG_PORT,
    PLACEMENT_UP,
    PY,
    RABBIT_PORT,
    RABBIT_UP,
    REGION_ONE,
    REGION_TWO,
    Paths,
    Region,
    Service,
    by_name,
    rabbit_env,
    region_services,
    services,
)

PGBIN = "/usr/lib/postgresql/15/bin"
RABBITMQCTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"  # not /usr/sbin's: that one runs as user rabbitmq with its cookie
CONDITION_TIMEOUT = {RABBIT_UP: 120.0, PLACEMENT_UP: 60.0, KEYSTONE_REGISTERED: 120.0}
# runs `python3 -m sahabdevcloud.cloud ARGS` with this checkout's package and nothing from the caller's PYTHONPATH
CLOUD_MAIN = "import sys; sys.path.insert(0, sys.argv.pop(1)); from sahabdevcloud.cloud import main; sys.exit(main(sys.argv[1:]))"


class Devcloud:
    def __init__(self, paths: Paths) -> None:
        self.p = paths
        self.ready_timeout = os.environ.get("SAHAB_DEVCLOUD_READY_TIMEOUT") or "300"
        self._job_children: dict[str, subprocess.Popen[bytes]] = {}
        self._abort = threading.Event()

    # ------------------------------------------------------------ which services
    def r2_wanted(self) -> bool:
        wanted = os.environ.get("SAHAB_DEVCLOUD_REGIONS", "")
        if wanted in ("1", "2"):
            return wanted == "2"
        return (self.p.state / ".r2-enabled").exists()

    def all_services(self) -> list[Service]:
        """The services of this devcloud (with RegionTwo's if wanted or running)."""
        r2_running = any(self.p.run.glob(REGION_TWO.prefix + "*.pid"))
        return services(self.r2_wanted() or r2_running)

    def pid(self, service: Service | str) -> int | None:
        name = service if isinstance(service, str) else service.name
        return processes.service_pid(self.p.run, name)

    # ------------------------------------------------------------ processes
    def start(self, service: Service) -> None:
        if self.pid(service):
            return
        env = service.env(self.p) if service.env else None
        log = self.p.logs / f"{service.name}.out"
        pid = processes.start(self.p.run, service.name, service.argv(self.p), log, self.p.state, env)
        say(f"  started {service.name} (pid {pid})")

    def wait_port(self, name: str, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not processes.port_open(port):
            if name != "postgres" and not self.pid(name):
                raise Failed(name, f"process exited before port {port} opened", by_name(name).logs(self.p))
            if time.monotonic() > deadline:
                raise Failed(name, f"port {port} not open after {timeout:.0f} s", by_name(name).logs(self.p))
            time.sleep(0.2)

    def _condition(self, condition: str, region: Region) -> tuple[bool, str, int]:
        """(met, service providing it, port) of a start condition."""
        if condition == RABBIT_UP:
            return processes.port_open(RABBIT_PORT), "rabbitmq", RABBIT_PORT
        if condition == PLACEMENT_UP:
            placement = next(s for s in region_services(region) if s.base == "placement")
            return processes.port_open(placement.ports[0]), placement.name, placement.ports[0]
        if condition == KEYSTONE_REGISTERED:
            return (self.p.run / KEYSTONE_REGISTERED).exists(), "keystone", 0
        raise ValueError(condition)

    def start_services(self, wanted: list[Service]) -> None:
        """Start each service that is not running once its start conditions hold (the others meanwhile)."""
        # (postgres, epmd and RabbitMQ, with no schema job, have their own start: start_postgres, start_rabbit)
        pending = [s for s in wanted if s.job and not self.pid(s)]
        since: dict[str, float] = {}
        while pending:
            started = False
            for service in list(pending):
                unmet = []
                for condition in service.after:
                    met, provider, port = self._condition(condition, service.region)
                    if not met:
                        unmet.append(condition)
                        self._still_coming(condition, provider, port, since)
                if not unmet:
                    self.start(service)
                    pending.remove(service)
                    started = True
            if pending and not started:
                time.sleep(0.2)

    def _still_coming(self, condition: str, provider: str, port: int, since: dict[str, float]) -> None:
        key = f"{condition}/{provider}"
        first = since.setdefault(key, time.monotonic())
        timeout = CONDITION_TIMEOUT[condition]
        if condition == KEYSTONE_REGISTERED:
            if time.monotonic() - first > timeout:
                raise Failed("keystone", f"keystone registration not done after {timeout:.0f} s")
            return
        logs = by_name(provider).logs(self.p)
        if not self.pid(provider):
            raise Failed(provider, f"process exited before port {port} opened", logs)
        if time.monotonic() - first > timeout:
            raise Failed(provider, f"port {port} not open after {timeout:.0f} s", logs)

    def run(self, job: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
        """Run a setup command, its output appended to logs/setup-JOB.log (killed when another job fails)."""
        if self._abort.is_set():
            raise Failed(f"setup-{job}", "aborted")
        with open(self.p.logs / f"setup-{job}.log", "ab") as log:
            child = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})}
            )
            self._job_children[job] = child
            if self._abort.is_set():  # another job failed while this one was starting its command
                child.terminate()
            child.wait()
            self._job_children.pop(job, None)
        return subprocess.CompletedProcess(argv, child.returncode)

    def must(self, job: str, *argv: str, env: dict[str, str] | None = None) -> None:
        if self.run(job, list(argv), env).returncode:
            raise Failed(f"setup-{job}", f"{argv[0]} {' '.join(argv[1:3])} failed")

    def cloud(self, *args: str) -> list[str]:
        """argv of a sahabdevcloud.cloud step (openstacksdk, Debian's python)."""
        return [PY, "-I", "-c", CLOUD_MAIN, str(self.p.here), *args]

    # ------------------------------------------------------------ PostgreSQL
    def pg(self, *argv: str, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        """ARGV as the postgres user (initdb refuses root; the cluster's files are postgres')."""
        done: subprocess.CompletedProcess[bytes] = subprocess.run(["runuser", "-u", "postgres", "--", *argv], **kwargs)
        return done

    def pg_access(self) -> None:
        """The postgres user must be able to reach state/pg (e.g. /root is mode 700)."""
        if self.pg("test", "-x", str(self.p.state / "pg"), stderr=subprocess.DEVNULL).returncode == 0:
            return
        d = Path("/")
        for part in self.p.state.resolve().parts[1:]:  # top-down: only touch the directories that block it
            d = d / part
            if self.pg("test", "-x", str(d), stderr=subprocess.DEVNULL).returncode == 0:
                continue
            if shutil.which("setfacl"):
                subprocess.run(["setfacl", "-m", "u:postgres:x", str(d)], check=False)
            else:
                d.chmod(d.stat().st_mode | 0o001)
            say(f"  granted search (x) permission on {d} so the postgres user can reach its data dir")
        if self.pg("test", "-x", str(self.p.state / "pg")).returncode != 0:
            raise Failed("postgres", f"user postgres cannot reach {self.p.state / 'pg'}")

    def start_postgres(self) -> None:
        data = self.p.state / "pg" / "data"
        postmaster = data / "postmaster.pid"
        status = [f"{PGBIN}/pg_ctl", "-D", str(data), "status"]
        pg_logs = by_name("postgres").logs(self.p)
        if postmaster.is_file() and postmaster.stat().st_size and self.pg(*status, capture_output=True).returncode == 0:
            processes.record(self.p.run, "postgres", int(postmaster.read_text().split()[0]))
            return
        (self.p.state / "pg").mkdir(parents=True, exist_ok=True)
        shutil.chown(self.p.state / "pg", "postgres", "postgres")
        self.pg_access()
        if not (data / "PG_VERSION").is_file():
            with open(self.p.logs / "setup-initdb.log", "wb") as log:
                initdb = [
                    f"{PGBIN}/initdb",
                    "-D",
                    str(data),
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ]
                if self.pg(*initdb, stdout=log, stderr=subprocess.STDOUT).returncode:
                    raise Failed("setup-initdb", "initdb failed", [self.p.logs / "setup-initdb.log"])
        if processes.port_open(PG_PORT):
            raise Failed("postgres", f"port {PG_PORT} is already in use by another process", pg_logs)
        options = (
            f"-p {PG_PORT} -k {self.p.state / 'pg'} -c listen_addresses={HOST} -c max_connections=400"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        log_file = self.p.state / "pg" / "postgres.log"
        start = [f"{PGBIN}/pg_ctl", "-D", str(data), "-l", str(log_file), "-w", "-t", "60", "-o", options, "start"]
        if self.pg(*start, stdout=subprocess.DEVNULL).returncode:
            raise Failed("postgres", "pg_ctl start failed", pg_logs)
        pid = int(postmaster.read_text().split()[0])
        processes.record(self.p.run, "postgres", pid)
        say(f"  started postgres (pid {pid}, port {PG_PORT})")

    def create_dbs(self, databases: tuple[str, ...]) -> None:
        psql = ["psql", "-X", "-q", "-h", HOST, "-p", str(PG_PORT), "-U", "postgres", "-v", "ON_ERROR_STOP=1"]

        def answers(query: str) -> bool:
            found = subprocess.run([*psql, "-tAc", query], capture_output=True, text=True)
            return found.stdout.strip() == "1"

        def do(sql: str, what: str) -> None:
            if subprocess.run([*psql, "-c", sql]).returncode:
                raise Failed("postgres", f"{what} failed", by_name("postgres").logs(self.p))

        if not answers("SELECT 1 FROM pg_roles WHERE rolname='openstack'"):
            do("CREATE ROLE openstack LOGIN PASSWORD 'secret'", "create role")
        for db in databases:
            if not answers(f"SELECT 1 FROM pg_database WHERE datname='{db}'"):
                do(f"CREATE DATABASE {db} OWNER openstack", f"create database {db}")

    # ------------------------------------------------------------ RabbitMQ (+ epmd)
    def start_rabbit(self) -> None:
        epmd = by_name("epmd")
        if not self.pid(epmd):
            if processes.port_open(epmd.ports[0]):
                say(f"  epmd: port {epmd.ports[0]} already served by another epmd, RabbitMQ will use it")
            else:
                self.start(epmd)
                self.wait_port("epmd", epmd.ports[0], 10)
        rabbit = by_name("rabbitmq")
        if self.pid(rabbit):
            return
        if processes.port_open(RABBIT_PORT):
            raise Failed("rabbitmq", f"port {RABBIT_PORT} is already in use by another process", rabbit.logs(self.p))
        self.start(rabbit)

    def rabbit_vhost(self, vhost: str) -> None:
        """The vhost, with all permissions for the openstack user."""
        env = rabbit_env(self.p)
        listed = subprocess.run(
            [RABBITMQCTL, "-q", "list_vhosts"], capture_output=True, text=True, env={**os.environ, **env}
        )
        if vhost in listed.stdout.split():
            return
        for argv in (["add_vhost", vhost], ["set_permissions", "-p", vhost, "openstack", ".*", ".*", ".*"]):
            if self.run("rabbit-vhost", [RABBITMQCTL, "-q", *argv], env).returncode:
                log = self.p.logs / "setup-rabbit-vhost.log"
                raise Failed("setup-rabbit-vhost", f"could not create RabbitMQ vhost {vhost}", [log])

    # ------------------------------------------------------------ configs
    def write_configs(self, regions: list[Region]) -> None:
        for d in [self.p.logs, self.p.run, *configs.shared_dirs(self.p), *configs.swift_dirs(self.p)]:
            d.mkdir(parents=True, exist_ok=True)
        files = configs.shared_files(self.p) | configs.swift_files(self.p)
        for region in regions:
            for d in configs.region_dirs(self.p, region):
                d.mkdir(parents=True, exist_ok=True)
            files |= configs.region_files(self.p, region)
        files[self.p.state / "clouds.yaml"] = configs.clouds_yaml(self.p, regions)
        configs.write(files)
        rings = [self.p.swift / f"{kind}.ring.gz" for kind in ("account", "container", "object")]
        if not all(r.is_file() and r.stat().st_size for r in rings):
            if self.run("swift-rings", self.cloud("swift-rings", str(self.p.swift))).returncode:
                raise Failed(
                    "setup-swift-rings", "building the Swift rings failed", [self.p.logs / "setup-swift-rings.log"]
                )

    # ------------------------------------------------------------ schema jobs (cold start)
    def job(self, name: str, region: Region) -> None:
        """Schema (and keystone's bootstrap) of one component, then its services as soon as they may start."""
        component = schema.component_of(name, region)
        for step in schema.steps(component, self.p, region):
            if not (step.done and step.done()):
                self.must(name, *step.argv)
        self.start_services([s for s in region_services(region) if s.job == component])
        if component == "keystone":
            self.must(name, *self.cloud("register", str(self.p.state)))
            (self.p.run / KEYSTONE_REGISTERED).touch()

    def run_jobs(self, names: list[str], region: Region) -> None:
        """The jobs in parallel (output in logs/setup-NAME.log); the first failure stops the others."""
        results: dict[str, tuple[float, Failed | None, list[str]]] = {}
        done = threading.Condition()

        def body(name: str) -> None:
            t1 = time.monotonic()
            error: Failed | None = None
            with open(self.p.logs / f"setup-{name}.log", "a") as log:
                redirect(log)
                try:
                    self.job(name, region)
                except Failed as failed:
                    error = failed
                    failed.report(log)
                except Exception as exc:  # a bug here must still end the run, with the job named
                    error = Failed(f"setup-{name}", repr(exc))
                    error.report(log)
                redirect(None)
            seconds = time.monotonic() - t1
            with open(self.p.logs / "setup-times.log", "a") as times:
                times.write(f"{name}: {seconds:.1f} s (rc {1 if error else 0})\n")
            started = re.findall(
                r"\] +started (\S+) \(pid", (self.p.logs / f"setup-{name}.log").read_text(errors="replace")
            )
            with done:
                results[name] = (seconds, error, started)
                done.notify()

        for name in names:
            threading.Thread(target=body, args=(name,), name=f"job-{name}", daemon=True).start()
        reported: set[str] = set()
        while len(reported) < len(names):
            with done:
                while not set(results) - reported:
                    done.wait()
                name = sorted(set(results) - reported)[0]
            reported.add(name)
            seconds, error, started = results[name]
            if error:
                self._abort.set()
                for child in list(self._job_children.values()):
                    child.terminate()
                log = self.p.logs / f"setup-{name}.log"
                raise Failed(f"setup-{name}", f"schema/bootstrap job '{name}' failed (see {log})", [log])
            say(f"  job {name} done in {seconds:.1f} s (rc 0)" + "".join(f", {s}" for s in started))

    # ------------------------------------------------------------ readiness, fixtures
    def ready(self, region: Region, timeout: str) -> None:
        out = self.p.logs / "ready.out"
        with open(out, "wb") as log:
            rc = subprocess.run(
                self.cloud("ready", str(self.p.state), "--region", region.name, "--timeout", timeout),
                stdout=log,
                stderr=subprocess.STDOUT,
            ).returncode
        if rc == 0:
            return
        text = out.read_text(errors="replace")
        sys.stderr.write(text)
        verdicts = [line for line in text.splitlines() if line.startswith(("DIED ", "NOTREADY "))]
        line = verdicts[-1] if verdicts else ""
        name = line.split()[1] if line else "ready"
        try:
            logs = by_name(name).logs(self.p)
        except KeyError:
            logs = []
        raise Failed(name, line or "readiness check failed", logs)

    def once(self, marker: str, job: str, argv: list[str], what: str) -> None:
        """Run a setup step unless its marker file says it is done."""
        if (self.p.state / marker).exists():
            return
        log = self.p.logs / f"setup-{job}.log"
        log.unlink(missing_ok=True)
        if self.run(job, argv).returncode:
            raise Failed(f"setup-{job}", what, [log])
        (self.p.state / marker).touch()

    # ------------------------------------------------------------ commands
    def up(self) -> int:
        b = self.p.state
        say(f"state dir: {b}")
        self.p.logs.mkdir(parents=True, exist_ok=True)
        self.p.run.mkdir(parents=True, exist_ok=True)
        if os.environ.get("SAHAB_DEVCLOUD_REGIONS") == "1":  # RegionTwo off from now on
            (b / ".r2-enabled").unlink(missing_ok=True)
        r2 = self.r2_wanted()
        all_up = all(self.pid(s) for s in self.all_services())
        if r2 and not ((b / ".r2-fixtures-done").exists() and self.pid("r2-nova-compute")):
            all_up = False
        if all_up and (b / ".fixtures-done").exists():
            say("already running: checking readiness")
            self.ready(REGION_ONE, "60")
            if r2:
                self.ready(REGION_TWO, "60")
            say(f"ready (total {elapsed()} s)")
            self.print_env_hint()
            return 0
        self.write_configs([REGION_ONE, REGION_TWO] if r2 else [REGION_ONE])
        say("configs written")
        self.start_postgres()
        self.create_dbs(REGION_ONE.databases)
        self.start_rabbit()
        one = region_services(REGION_ONE)
        if (b / ".schema-done").exists():
            say("warm start (schema done earlier): starting keystone, placement, glance")
            self.start_services([s for s in one if s.base in ("keystone", "placement", "glance-api")])
        else:
            say("cold start: schema sync + keystone bootstrap, each service starting after its own schema")
            (self.p.logs / "setup-times.log").write_text("")
            (self.p.run / KEYSTONE_REGISTERED).unlink(missing_ok=True)
            self.run_jobs(schema.jobs(REGION_ONE), REGION_ONE)
            (b / ".schema-done").touch()
        # RabbitMQ first: starting the services while it boots was measured slower (37.7 s vs 33.4 s
        # warm start): they compete with Erlang for the 2 CPUs.
        say(f"waiting for rabbitmq ({RABBIT_PORT})")
        self.wait_port("rabbitmq", RABBIT_PORT, 120)
        self.start_services(one)  # no-ops for what is running
        self.once(
            ".swift-registered",
            "swift-register",
            self.cloud("register-swift", str(b)),
            "registering Swift in keystone failed",
        )
        if r2 and (b / ".r2-schema-done").exists():  # warm RegionTwo: boot alongside RegionOne
            self.start_services(region_services(REGION_TWO))
        say("waiting for readiness (all APIs answer, services report fresh heartbeats)")
        self.ready(REGION_ONE, self.ready_timeout)
        say("all services ready")
        if not (b / ".fixtures-done").exists():
            self.once(".fixtures-done", "fixtures", self.cloud("fixtures", str(b)), "fixtures failed")
            say("fixtures: " + _last_line(self.p.logs / "setup-fixtures.log"))
        if r2:
            self.up_region_two()
        say(f"devcloud up (total {elapsed()} s)")
        self.print_env_hint()
        return 0

    def up_region_two(self) -> None:
        b = self.p.state
        say("RegionTwo: placement, nova, cinder, neutron (keystone and glance shared)")
        (b / ".r2-enabled").touch()
        if not (b / ".r2-schema-done").exists():
            self.create_dbs(REGION_TWO.databases)
            self.rabbit_vhost(REGION_TWO.vhost)
            register = self.cloud("register", str(b), "--region", REGION_TWO.name)
            log = self.p.logs / "setup-r2-register.log"
            log.unlink(missing_ok=True)
            if self.run("r2-register", register).returncode:
                raise Failed("setup-r2-register", "registering RegionTwo endpoints failed", [log])
            self.run_jobs(schema.jobs(REGION_TWO), REGION_TWO)
            (b / ".r2-schema-done").touch()
        self.start_services(region_services(REGION_TWO))
        self.ready(REGION_TWO, self.ready_timeout)
        say("RegionTwo ready")
        if not (b / ".r2-fixtures-done").exists():
            fixtures = self.cloud("fixtures", str(b), "--region", REGION_TWO.name)
            self.once(".r2-fixtures-done", "r2-fixtures", fixtures, "RegionTwo fixtures failed")
            say("RegionTwo fixtures: " + _last_line(self.p.logs / "setup-r2-fixtures.log"))

    def print_env_hint(self) -> None:
        print(f'use: eval "$({self.p.here}/sahab-devcloud env)"   (cloud name: sahab-devcloud)', flush=True)

    def env(self) -> int:
        b = self.p.state
        print(f"export SAHAB_DEVCLOUD_STATE={b}")
        print(f"export OS_CLIENT_CONFIG_FILE={b}/clouds.yaml")
        print("export OS_CLOUD=sahab-devcloud")
        return 0

    def down(self, purge: bool) -> int:
        running = [(s, pid) for s in self.all_services() if (pid := self.pid(s))]
        first = [(s, pid) for s, pid in running if not s.stop_last]
        last = [(s, pid) for s, pid in running if s.stop_last]
        # SIGTERM goes to the whole process tree; a service with its own stop signal (postgres: SIGINT =
        # fast shutdown) gets it at its root only, its children follow it
        term_roots = [pid for s, pid in first if s.stop_signal == signal.SIGTERM]
        term_set = processes.descendants(term_roots) if term_roots else set()
        own = [(s, pid, processes.descendants([pid])) for s, pid in first if s.stop_signal != signal.SIGTERM]
        # the special ones by name, counted even when not running: "(+postgres 3, epmd 1)"
        counts = {s.name: 0 for s in self.all_services() if s.stop_signal != signal.SIGTERM or s.stop_last}
        counts |= {s.name: len(tree) for s, _, tree in own} | {s.name: 1 for s, _ in last}
        say(f"stopping {len(term_set)} processes (+{', '.join(f'{n} {c}' for n, c in counts.items())})")
        processes.signal_all(term_set, signal.SIGTERM)
        for s, pid, _ in own:
            processes.signal_all([pid], s.stop_signal)
        self._stop_wait(sorted(term_set.union(*(tree for _, _, tree in own))))
        if last:
            pids = [pid for _, pid in last]
            processes.signal_all(pids, signal.SIGTERM)
            self._stop_wait(pids)
        for f in [*self.p.run.glob("*.pid"), *self.p.run.glob("*.stime")]:
            f.unlink(missing_ok=True)
        say("stopped")
        if purge:
            b = self.p.state
            if str(b) in ("/", "", str(Path.home())):
                raise Failed("down", f"refusing to delete {b}")
            shutil.rmtree(b, ignore_errors=True)
            say(f"purged {b}")
        return 0

    def _stop_wait(self, pids: list[int]) -> None:
        if not pids:
            return
        left = processes.wait_gone(pids, 20.0)
        if left:
            say("  SIGKILL leftovers: " + " ".join(map(str, left)))
            processes.kill_after(left, 0)

    def status(self, out: TextIO = sys.stdout) -> int:
        out.write(f"state dir: {self.p.state}\n")
        listening = processes.listening_ports()
        out.write(f"{'SERVICE':<20} {'PID':<8} {'STATE':<9} PORTS\n")
        pids = []
        svcs = self.all_services()
        for s in svcs:
            pid = self.pid(s)
            if pid:
                state, shown = "running", str(pid)
                pids.append(pid)
            elif (self.p.run / f"{s.name}.pid").exists():
                state, shown = "dead", str(processes.read_pid(self.p.run, s.name) or "")
            else:
                state, shown = "stopped", "-"
            ports = "".join(f"{HOST}:{p}(listening) " if p in listening else f"{p}(closed) " for p in s.ports)
            out.write(f"{s.name:<20} {shown:<8} {state:<9} {ports or 'rpc only'}\n")
        if pids:
            procs = processes.descendants(pids)
            total = sum(processes.pss_kib(p) for p in procs)
            out.write(f"memory: {len(procs)} processes, PSS sum {total // 1024} MiB\n")
        if (self.p.state / "clouds.yaml").exists():
            out.write(f"clouds.yaml: {self.p.state}/clouds.yaml (cloud sahab-devcloud)\n")
        out.flush()
        return 0 if len(pids) == len(svcs) else 1


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""
