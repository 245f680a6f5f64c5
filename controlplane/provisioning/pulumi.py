"""The real provisioner: the Pulumi engine through the Automation API.

One stack per Sahab project, each with its own work directory (parallel
create/select on one directory corrupts workspace files), an inline program
(stacks.tenant, imported only here), a file:// backend under the data
directory by default and the passphrase secrets provider. The worker's lease
guarantees one operation per stack, so a lock found on a stack is stale and
is cleared; pending operations of an interrupted update are cleared and the
objects they created are adopted by name instead of created twice.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import threading
from pathlib import Path
from typing import Any

from controlplane.contract import ProgressCallback, ProgressEvent, TenantOutputs, TenantSpec
from controlplane.errors import ProvisionerUnavailable, ProvisioningError
from controlplane.observability.tracing import span
from controlplane.settings import Settings

log = logging.getLogger(__name__)
PROJECT = "sahab-tenants"
PASSWORD_KEY = "userPassword"
_ENV = {"PULUMI_SKIP_UPDATE_CHECK": "true", "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true"}


class PulumiProvisioner:
    name = "pulumi"

    def __init__(self, data_dir: Path, backend_url: str, passphrase: str, clouds_file: str | None = None) -> None:
        self.root = data_dir / "pulumi"
        self.backend_url = backend_url or f"file://{self.root / 'state'}"
        self.passphrase = passphrase
        self.clouds_file = clouds_file
        self._command: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> "PulumiProvisioner":
        return cls(settings.data_dir, settings.pulumi_backend_url, settings.pulumi_passphrase,
                   os.environ.get("OS_CLIENT_CONFIG_FILE"))

    # -- availability ----------------------------------------------------------
    def check_available(self) -> None:
        missing = [b for b in ("pulumi", "pulumi-resource-openstack") if shutil.which(b) is None]
        if missing:
            raise ProvisionerUnavailable(
                f"{' and '.join(missing)} not found on PATH; run `eval \"$(toolchain/ensure-pulumi --env)\"` "
                "before starting the worker (./dev run does)"
            )
        if self.clouds_file and not Path(self.clouds_file).is_file():
            raise ProvisionerUnavailable(f"OS_CLIENT_CONFIG_FILE={self.clouds_file} does not exist")

    # -- operations --------------------------------------------------------------
    def apply(self, spec: TenantSpec, progress: ProgressCallback) -> TenantOutputs:
        stack = self._stack(spec)
        adopt = self._recover(stack, spec)
        events = _EventRelay(progress)
        result = self._run(lambda: stack.up(
            on_event=events, color="never", program=self._program(spec, stack, adopt),
        ), events, "up")
        outputs = {k: v.value for k, v in result.outputs.items()}
        return TenantOutputs(
            openstack_project_id=outputs["project_id"], user_name=outputs["user_name"],
            auth_url=outputs["auth_url"], region=outputs["region"], network_id=outputs.get("network_id"),
        )

    def preview(self, spec: TenantSpec) -> dict[str, Any]:
        stack = self._stack(spec)
        adopt = self._recover(stack, spec, clear_lock=False)
        steps: list[dict[str, Any]] = []

        def collect(event: Any) -> None:
            pre = getattr(event, "resource_pre_event", None)
            if pre is None or pre.metadata.type.startswith("pulumi:"):
                return
            meta = pre.metadata
            if meta.op in ("same", "read"):
                return
            steps.append({"op": str(meta.op.value if hasattr(meta.op, "value") else meta.op), "type": meta.type,
                          "name": meta.urn.rsplit("::", 1)[-1], "changed": sorted(meta.diffs or [])})

        events = _EventRelay(lambda _e: None)
        result = self._run(lambda: stack.preview(on_event=lambda e: (collect(e), events(e)), color="never",
                                                 program=self._program(spec, stack, adopt)), events, "preview")
        return {"summary": dict(result.change_summary), "steps": steps}

    def destroy(self, spec: TenantSpec, progress: ProgressCallback) -> None:
        stack = self._stack(spec)
        adopt = self._recover(stack, spec)
        events = _EventRelay(progress)
        # Deleting a quota resource leaves the quota on the cloud: set it to zero first.
        zero = TenantSpec(**{**spec.__dict__, "quota": {k: 0 for k in spec.quota}})
        progress(ProgressEvent("resetting quotas to zero before removal", operation="update"))
        self._run(lambda: stack.up(on_event=events, color="never", program=self._program(zero, stack, adopt)), events, "up")
        self._run(lambda: stack.destroy(on_event=events, color="never"), events, "destroy")
        stack.workspace.remove_stack(spec.project_id)
        shutil.rmtree(self._work_dir(spec), ignore_errors=True)

    def credentials(self, spec: TenantSpec) -> dict[str, Any]:
        outputs = {k: v.value for k, v in self._stack(spec).outputs().items()}
        if "project_id" not in outputs:
            raise ProvisioningError(f"stack {spec.project_id} has no outputs; has it been provisioned?")
        return {
            "auth": {
                "auth_url": outputs["auth_url"], "username": outputs["user_name"], "password": outputs["password"],
                "project_id": outputs["project_id"], "user_domain_id": spec.domain_id,
            },
            "region_name": outputs["region"], "interface": "public", "identity_api_version": 3,
        }

    # -- plumbing ------------------------------------------------------------------
    def _work_dir(self, spec: TenantSpec) -> Path:
        return self.root / "work" / spec.project_id

    def _pulumi_command(self) -> Any:
        from pulumi import automation as auto

        with self._lock:
            if self._command is None:
                self.check_available()
                root = Path(shutil.which("pulumi")).resolve().parent.parent  # type: ignore[arg-type]
                self._command = auto.PulumiCommand(root=str(root))
            return self._command

    def _passphrase(self) -> str:
        if self.passphrase:
            return self.passphrase
        path = self.root / "passphrase"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600) if not path.exists() else None
            if fd is not None:
                with os.fdopen(fd, "w") as handle:
                    handle.write(secrets.token_urlsafe(32))
        return path.read_text().strip()

    def _stack(self, spec: TenantSpec) -> Any:
        from pulumi import automation as auto

        work = self._work_dir(spec)
        work.mkdir(parents=True, exist_ok=True)
        if self.backend_url.startswith("file://"):
            Path(self.backend_url.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
        env = {**_ENV, "PULUMI_CONFIG_PASSPHRASE": self._passphrase()}
        if self.clouds_file:
            env["OS_CLIENT_CONFIG_FILE"] = self.clouds_file
        options = auto.LocalWorkspaceOptions(
            work_dir=str(work), pulumi_home=str(self.root / "home"), pulumi_command=self._pulumi_command(),
            secrets_provider="passphrase", env_vars=env,
            project_settings=auto.ProjectSettings(name=PROJECT, runtime="python",
                                                  backend=auto.ProjectBackend(url=self.backend_url)),
        )
        stack = auto.create_or_select_stack(stack_name=spec.project_id, project_name=PROJECT,
                                            program=lambda: None, opts=options)
        if PASSWORD_KEY not in stack.get_all_config() and f"{PROJECT}:{PASSWORD_KEY}" not in stack.get_all_config():
            stack.set_config(PASSWORD_KEY, auto.ConfigValue(secrets.token_urlsafe(24), secret=True))
        return stack

    def _program(self, spec: TenantSpec, stack: Any, adopt: Any) -> Any:
        from stacks.tenant import tenant_program

        password = stack.get_config(PASSWORD_KEY).value
        auth_url = self._cloud_config(spec).config["auth"]["auth_url"]
        return lambda: tenant_program(spec, auth_url, password, adopt)

    def _recover(self, stack: Any, spec: TenantSpec, clear_lock: bool = True) -> Any:
        """Make an interrupted stack usable again, without a human."""
        from pulumi import automation as auto

        if clear_lock:
            try:  # our lease says no one else runs this stack: any lock is stale
                stack.cancel()
            except auto.CommandError:
                pass
        deployment = stack.export_stack().deployment or {}
        if deployment.get("pending_operations"):
            log.warning("stack %s has pending operations from an interrupted update; clearing", spec.project_id)
            stack.refresh(clear_pending_creates=True, color="never")
            deployment = stack.export_stack().deployment or {}
        in_state = {r.get("urn", "").rsplit("::", 1)[-1]: r.get("id") for r in deployment.get("resources", [])}
        return self._lost_objects(spec, in_state)

    def _cloud_config(self, spec: TenantSpec) -> Any:
        """The region's admin entry of clouds.yaml: the configured file, not whatever the process env says."""
        import openstack.config

        files = [self.clouds_file] if self.clouds_file else None
        return openstack.config.OpenStackConfig(config_files=files).get_one(cloud=spec.cloud, region_name=spec.openstack_region)

    def _lost_objects(self, spec: TenantSpec, in_state: dict[str, str | None]) -> Any:
        """Objects an interrupted create left on the cloud but not in the stack, found by their
        deterministic names, so that the next update adopts them instead of creating twins."""
        from stacks.tenant import Adopt, network_names

        wanted = {"project", "user"} | ({"network", "subnet", "router", "router-subnet"} if spec.create_network else set())
        if wanted <= set(in_state):
            return Adopt()
        import openstack

        found: dict[str, str | None] = {}
        with openstack.connection.Connection(config=self._cloud_config(spec)) as conn:
            if "project" not in in_state:
                project = conn.identity.find_project(spec.openstack_project_name, domain_id=spec.domain_id, ignore_missing=True)
                found["project"] = project.id if project else None
            if "user" not in in_state:
                user = conn.identity.find_user(spec.user_name, domain_id=spec.domain_id, ignore_missing=True)
                found["user"] = user.id if user else None
            project_id = in_state.get("project") or found.get("project")
            if spec.create_network and project_id:
                names = network_names(spec)
                lookups = {"network": conn.network.networks, "subnet": conn.network.subnets, "router": conn.network.routers}
                for kind, listing in lookups.items():
                    if kind not in in_state:
                        match = next(iter(listing(name=names[kind], project_id=project_id)), None)
                        found[kind] = match.id if match else None
                router_id, subnet_id = in_state.get("router") or found.get("router"), in_state.get("subnet") or found.get("subnet")
                if "router-subnet" not in in_state and router_id and subnet_id:
                    port = next(iter(conn.network.ports(device_id=router_id, fixed_ips=f"subnet_id={subnet_id}")), None)
                    found["router-subnet"] = port.id if port else None
        adopted = {k: v for k, v in found.items() if v}
        if adopted:
            log.warning("stack %s adopts objects an interrupted update left: %s", spec.project_id, sorted(adopted))
        return Adopt(
            project_id=found.get("project"), user_id=found.get("user"), network_id=found.get("network"),
            subnet_id=found.get("subnet"), router_id=found.get("router"), router_interface_port_id=found.get("router-subnet"),
        )

    def _run(self, operation: Any, events: "_EventRelay", verb: str) -> Any:
        from pulumi import automation as auto

        try:
            with span(f"pulumi.{verb}"):  # one span per Pulumi operation (issue 18)
                return operation()
        except auto.ConcurrentUpdateError as error:
            raise ProvisioningError(f"pulumi {verb}: the stack is locked by another update") from error
        except auto.CommandError as error:
            detail = "; ".join(events.errors) or str(error).strip().splitlines()[-1][:500]
            raise ProvisioningError(f"pulumi {verb} failed: {detail}") from error


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
                self.progress(ProgressEvent(f"{_PAST.get(op, op)} {meta.type.split(':')[-1]} {name}", meta.type, name, op))
        diagnostic = getattr(event, "diagnostic_event", None)
        if diagnostic is not None and diagnostic.severity == "error":
            self.errors.append(diagnostic.message.strip()[:500])


_PAST = {"create": "created", "update": "updated", "delete": "deleted", "replace": "replaced",
         "create-replacement": "created replacement", "delete-replaced": "deleted old", "import": "adopted",
         "refresh": "refreshed"}
