"""The real runner: stack programs under the Pulumi engine, through the Automation API.

It knows nothing of any one program: it finds the program named in the spec in
stacks' registry (the only place the core reaches into stacks/) and asks it for
the inline program, for the objects to adopt after an interrupted create, and for
the meaning of its outputs.

One stack per Sahab project, each with its own work directory (parallel
create/select on one directory corrupts workspace files), a file:// backend under
the data directory by default and the passphrase secrets provider. The worker's
lease guarantees one operation per stack, so a lock found on a stack is stale and
is cleared; pending operations of an interrupted update are cleared and the
objects they created are adopted instead of created twice.

The project user's password is Sahab's (stored encrypted in the database) and is
given to each run: no stack configuration lives in a worker's work directory, so
any worker can run any stack. Every engine command costs a process start
(0.2-0.4 s here), so a run issues only the ones it needs.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from controlplane.contract import (
    ProgressCallback,
    ProgressEvent,
    StackProgram,
    TenantOutputs,
    TenantSpec,
    new_password,
)
from controlplane.errors import Detail, ProvisionerUnavailable, ProvisioningError
from controlplane.observability.tracing import span
from controlplane.settings import Settings

log = logging.getLogger(__name__)
_ENV = {"PULUMI_SKIP_UPDATE_CHECK": "true", "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true"}
T = TypeVar("T")


def _dynamic_provider_env() -> dict[str, str]:
    """Python dynamic providers (stacks/object_quota.py) run in a process the engine starts through
    `pulumi-resource-pulumi-python` (stacks/bin): found first on the PATH, it runs this Python."""
    import stacks  # the stack programs (and their provider SDKs) load on first use, in workers only

    bin_dir = Path(stacks.__file__).resolve().parent / "bin"
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "SAHAB_DYNAMIC_PYTHON": sys.executable}


class PulumiProvisioner:
    name = "pulumi"

    def __init__(self, data_dir: Path, backend_url: str, passphrase: str, clouds_file: str | None = None) -> None:
        self.root = data_dir / "pulumi"
        self.backend_url = backend_url or f"file://{self.root / 'state'}"
        self.passphrase = passphrase
        self.clouds_file = clouds_file
        self._command: Any = None
        self._clouds: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> PulumiProvisioner:
        return cls(
            settings.data_dir,
            settings.pulumi_backend_url,
            settings.pulumi_passphrase,
            os.environ.get("OS_CLIENT_CONFIG_FILE"),
        )

    # -- availability ----------------------------------------------------------
    def check_available(self) -> None:
        missing = [b for b in ("pulumi", "pulumi-resource-openstack") if shutil.which(b) is None]
        if missing:
            raise ProvisionerUnavailable(
                Detail(
                    '{missing} not found on PATH; run `eval "$(toolchain/ensure-pulumi --env)"` before starting the '
                    "worker (./dev run does)",
                    missing=" and ".join(missing),
                )
            )
        if self.clouds_file and not Path(self.clouds_file).is_file():
            raise ProvisionerUnavailable(
                Detail("OS_CLIENT_CONFIG_FILE={clouds_file} does not exist", clouds_file=self.clouds_file)
            )

    def warm_up(self) -> None:
        """Pay the one-off costs when a worker process starts instead of in its first operation: the
        Automation API and the engine's version check (about 1 s), the stack programs and their
        provider SDK (pulumi_openstack alone takes seconds to import)."""
        from stacks import REGISTRY, find_program  # loaded here on purpose: this is the warm-up

        try:
            self._pulumi_command()
        except ProvisionerUnavailable:
            return  # said again, with the reason, when an operation is attempted
        for name in REGISTRY:
            find_program(name)

    # -- operations --------------------------------------------------------------
    def apply(
        self, spec: TenantSpec, progress: ProgressCallback, password: str | None = None, refresh: bool = False
    ) -> TenantOutputs:
        program, stack, created = self._open(spec)
        cloud = self._cloud(spec)
        password = password or self._previous_password(program, stack, created) or new_password()
        events = _EventRelay(progress)

        def up() -> Any:
            adopt = None if created else self._recover(stack, spec, program, cloud)
            return stack.up(
                on_event=events,
                color="never",
                program=program.build(spec, cloud, password, adopt),
                refresh=(refresh and not created) or None,
            )

        result = self._run(stack, up, events, "up")
        outputs = program.outputs({k: v.value for k, v in result.outputs.items()})
        if outputs is None:
            raise ProvisioningError(
                Detail("stack {spec_project_id} finished without its outputs", spec_project_id=spec.project_id)
            )
        return outputs if outputs.password else replace(outputs, password=password)

    def preview(self, spec: TenantSpec, password: str | None = None) -> dict[str, Any]:
        program, stack, created = self._open(spec)
        cloud = self._cloud(spec)
        password = password or self._previous_password(program, stack, created) or new_password()
        steps: list[dict[str, Any]] = []

        def collect(event: Any) -> None:
            pre = getattr(event, "resource_pre_event", None)
            if pre is None or pre.metadata.type.startswith("pulumi:"):
                return
            meta = pre.metadata
            if meta.op in ("same", "read"):
                return
            steps.append(
                {
                    "op": str(meta.op.value if hasattr(meta.op, "value") else meta.op),
                    "type": meta.type,
                    "name": meta.urn.rsplit("::", 1)[-1],
                    "changed": sorted(meta.diffs or []),
                }
            )

        events = _EventRelay(lambda _e: None)

        def relay(event: Any) -> None:
            collect(event)
            events(event)

        def preview() -> Any:
            adopt = None if created else self._recover(stack, spec, program, cloud, refresh=False)
            return stack.preview(on_event=relay, color="never", program=program.build(spec, cloud, password, adopt))

        result = self._run(stack, preview, events, "preview", clear_lock=False)
        return {"summary": dict(result.change_summary), "steps": steps}

    def destroy(self, spec: TenantSpec, progress: ProgressCallback, password: str | None = None) -> None:
        program, stack, created = self._open(spec)
        cloud = self._cloud(spec)
        password = password or self._previous_password(program, stack, created) or new_password()
        events = _EventRelay(progress)
        # Deleting a quota resource leaves the quota on the cloud: set it to zero first.
        zero = replace(spec, quota={k: 0 for k in spec.quota})
        progress(ProgressEvent("resetting quotas to zero before removal", operation="update"))

        def up() -> Any:
            adopt = None if created else self._recover(stack, spec, program, cloud)
            return stack.up(on_event=events, color="never", program=program.build(zero, cloud, password, adopt))

        self._run(stack, up, events, "up")
        self._run(stack, lambda: stack.destroy(on_event=events, color="never"), events, "destroy")
        stack.workspace.remove_stack(spec.project_id)
        shutil.rmtree(self._work_dir(spec), ignore_errors=True)

    def outputs(self, spec: TenantSpec) -> TenantOutputs | None:
        """The outputs of the stack's last completed update, its secret included (for projects
        provisioned before credentials were stored: a worker reads them once)."""
        program, stack, created = self._open(spec)
        return None if created else program.outputs({k: v.value for k, v in stack.outputs().items()})

    # -- plumbing ------------------------------------------------------------------
    def _work_dir(self, spec: TenantSpec) -> Path:
        return self.root / "work" / spec.project_id

    def _pulumi_command(self) -> Any:
        with self._lock:
            if self._command is None:
                self.check_available()
                from pulumi import automation as auto  # the engine's SDK loads in workers only, on first use

                root = Path(shutil.which("pulumi")).resolve().parent.parent  # type: ignore[arg-type]
                self._command = auto.PulumiCommand(root=str(root))
            return self._command

    def _passphrase(self) -> str:
        if self.passphrase:
            return self.passphrase
        path = self.root / "passphrase"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                fd = None  # another process made it first
            if fd is not None:
                with os.fdopen(fd, "w") as handle:
                    handle.write(secrets.token_urlsafe(32))
        return path.read_text().strip()

    def _open(self, spec: TenantSpec) -> tuple[StackProgram, Any, bool]:
        """The program, its stack, and whether the stack was created now (a new stack has no
        state, no lock and no pending operation: nothing to recover, nothing to read)."""
        from pulumi import automation as auto  # Pulumi and the programs load in workers only, on first use

        from stacks import find_program

        program = find_program(spec.program)
        work = self._work_dir(spec)
        work.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.backend_url.startswith("file://"):
            Path(self.backend_url.removeprefix("file://")).mkdir(parents=True, exist_ok=True, mode=0o700)
        env = {**_ENV, "PULUMI_CONFIG_PASSPHRASE": self._passphrase(), **_dynamic_provider_env()}
        if self.clouds_file:
            env["OS_CLIENT_CONFIG_FILE"] = self.clouds_file
        workspace = auto.LocalWorkspace(
            work_dir=str(work),
            pulumi_home=str(self.root / "home"),
            pulumi_command=self._pulumi_command(),
            secrets_provider="passphrase",
            env_vars=env,
            project_settings=auto.ProjectSettings(
                name=program.project, runtime="python", backend=auto.ProjectBackend(url=self.backend_url)
            ),
        )
        try:
            return program, auto.Stack.create(spec.project_id, workspace), True
        except (auto.StackAlreadyExistsError, auto.ConcurrentUpdateError):  # a lock, too, says it exists
            return program, auto.Stack.select(spec.project_id, workspace), False

    def _previous_password(self, program: StackProgram, stack: Any, created: bool) -> str | None:
        """The password of a stack Sahab holds no password for (provisioned before credentials were
        stored, or never completed): its last outputs, if any."""
        if created:
            return None
        previous = program.outputs({k: v.value for k, v in stack.outputs().items()})
        return previous.password if previous else None

    def _recover(
        self, stack: Any, spec: TenantSpec, program: StackProgram, cloud: _RegionCloud, refresh: bool = True
    ) -> Any:
        """Make an interrupted stack usable again, without a human: clear pending creates and
        let the program find what they left on the cloud."""
        deployment = stack.export_stack().deployment or {}
        if refresh and deployment.get("pending_operations"):
            log.warning("stack %s has pending operations from an interrupted update; clearing", spec.project_id)
            stack.refresh(clear_pending_creates=True, color="never")
            deployment = stack.export_stack().deployment or {}
        in_state = {r.get("urn", "").rsplit("::", 1)[-1]: r.get("id") for r in deployment.get("resources", [])}
        return program.lost_objects(spec, in_state, cloud)

    def _cloud(self, spec: TenantSpec) -> _RegionCloud:
        """The region's admin entry of clouds.yaml: the configured file, not whatever the process env says."""
        import openstack.config  # openstacksdk is heavy: loaded on first use

        with self._lock:
            if self._clouds is None:
                files = [self.clouds_file] if self.clouds_file else None
                self._clouds = openstack.config.OpenStackConfig(config_files=files)
            clouds = self._clouds
        return _RegionCloud(clouds.get_one(cloud=spec.cloud, region_name=spec.openstack_region))

    def _run(
        self, stack: Any, operation: Callable[[], T], events: _EventRelay, verb: str, clear_lock: bool = True
    ) -> T:
        from pulumi import automation as auto  # workers only, on first use

        try:
            with span(f"pulumi.{verb}"):  # one span per Pulumi operation
                try:
                    return operation()
                except auto.ConcurrentUpdateError:
                    if not clear_lock:
                        raise
                    # Our lease says no one else runs this stack: the lock is a dead worker's.
                    log.warning("stack %s is locked by an update that did not finish; clearing the lock", stack.name)
                    stack.cancel()
                    events.errors.clear()
                    return operation()
        except auto.ConcurrentUpdateError as error:
            raise ProvisioningError(
                Detail("pulumi {verb}: the stack is locked by another update", verb=verb)
            ) from error
        except auto.CommandError as error:
            detail = "; ".join(events.errors) or str(error).strip().splitlines()[-1][:500]
            raise ProvisioningError(Detail("pulumi {verb} failed: {detail}", verb=verb, detail=detail)) from error


class _RegionCloud:
    """CloudAccess for a program: the auth URL and admin connections of one region."""

    def __init__(self, config: Any) -> None:
        self.config = config

    @property
    def auth_url(self) -> str:
        return str(self.config.config["auth"]["auth_url"])

    def connect(self) -> Any:
        import openstack  # openstacksdk is heavy: loaded on first use

        return openstack.connection.Connection(config=self.config)


class _EventRelay:
    """Turns engine events into progress for the request's event log (never outputs: they may be secret)."""

    def __init__(self, progress: ProgressCallback) -> None:
        self.progress = progress
        self.errors: list[str] = []

    def __call__(self, event: Any) -> None:
        done = getattr(event, "res_outputs_event", None)
        if done is not None and not done.metadata.type.startswith("pulumi:"):
            meta = done.metadata
            op = str(getattr(meta.op, "value", meta.op))
            name = meta.urn.rsplit("::", 1)[-1]
            if op not in ("same", "read"):
                self.progress(
                    ProgressEvent(f"{_PAST.get(op, op)} {meta.type.split(':')[-1]} {name}", meta.type, name, op)
                )
        diagnostic = getattr(event, "diagnostic_event", None)
        if diagnostic is not None and diagnostic.severity == "error":
            self.errors.append(diagnostic.message.strip()[:500])


_PAST = {
    "create": "created",
    "update": "updated",
    "delete": "deleted",
    "replace": "replaced",
    "create-replacement": "created replacement",
    "delete-replaced": "deleted old",
    "import": "adopted",
    "refresh": "refreshed",
}
