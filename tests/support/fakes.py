"""Test doubles for unit tests only. Nothing in controlplane/ can select these."""

from __future__ import annotations

import threading
from typing import Any

from controlplane.contract import ProgressCallback, ProgressEvent, TenantOutputs, TenantSpec, new_password
from controlplane.errors import ProvisioningError


class RecordingQueue:
    """Records what would be sent to Celery after commit."""

    def __init__(self) -> None:
        self.provisioned: list[str] = []
        self.decommissioned: list[str] = []
        self.previewed: list[str] = []
        self.repaired: list[str] = []
        self.webhooks: list[tuple[str, float]] = []  # (delivery id, delay in seconds)

        self.captured: list[str] = []

    def provision(self, request_id: str) -> None:
        self.provisioned.append(request_id)

    def decommission(self, project_id: str) -> None:
        self.decommissioned.append(project_id)

    def preview(self, request_id: str) -> None:
        self.previewed.append(request_id)

    def repair(self, project_id: str) -> None:
        self.repaired.append(project_id)

    def deliver_webhook(self, delivery_id: str, delay_seconds: float = 0) -> None:
        self.webhooks.append((delivery_id, delay_seconds))

    def capture_credentials(self, project_id: str) -> None:
        self.captured.append(project_id)


class InMemoryProvisioner:
    """Keeps tenants (and their users' passwords) in dicts; `fail_next` makes the next operation fail."""

    name = "in-memory"

    def __init__(self) -> None:
        self.tenants: dict[str, TenantSpec] = {}
        self.passwords: dict[str, str] = {}
        self.applies: list[str] = []
        self.fail_next: str | None = None
        self.lock = threading.Lock()

    def check_available(self) -> None:
        return None

    def warm_up(self) -> None:
        return None

    def _maybe_fail(self) -> None:
        if self.fail_next:
            message, self.fail_next = self.fail_next, None
            raise ProvisioningError(message)

    def apply(
        self, spec: TenantSpec, progress: ProgressCallback, password: str | None = None, refresh: bool = False
    ) -> TenantOutputs:
        self._maybe_fail()
        with self.lock:
            self.applies.append(spec.project_id)
            created = spec.project_id not in self.tenants
            self.tenants[spec.project_id] = spec
            self.passwords[spec.project_id] = password or self.passwords.get(spec.project_id) or new_password()
        progress(
            ProgressEvent(
                "keystone project " + ("created" if created else "unchanged"),
                "openstack:identity/project:Project",
                spec.openstack_project_name,
                "create" if created else "same",
            )
        )
        return self._outputs(spec)

    def _outputs(self, spec: TenantSpec) -> TenantOutputs:
        return TenantOutputs(
            openstack_project_id=f"os-{spec.project_id}",
            user_name=f"{spec.openstack_project_name}-user",
            auth_url="http://keystone.invalid/v3",
            region=spec.openstack_region,
            password=self.passwords[spec.project_id],
        )

    def preview(self, spec: TenantSpec, password: str | None = None) -> dict[str, Any]:
        return {"changes": {"update": 1}}

    def destroy(self, spec: TenantSpec, progress: ProgressCallback, password: str | None = None) -> None:
        self._maybe_fail()
        with self.lock:
            self.tenants.pop(spec.project_id, None)
            self.passwords.pop(spec.project_id, None)
        progress(ProgressEvent("keystone project deleted", operation="delete"))

    def outputs(self, spec: TenantSpec) -> TenantOutputs | None:
        self._maybe_fail()
        return self._outputs(spec) if spec.project_id in self.tenants else None
