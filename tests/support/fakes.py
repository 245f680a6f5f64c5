"""Test doubles for unit tests only. Nothing in controlplane/ can select these."""

from __future__ import annotations

import threading
from typing import Any

from controlplane.contract import ProgressCallback, ProgressEvent, TenantOutputs, TenantSpec
from controlplane.errors import ProvisioningError


class RecordingQueue:
    """Records what would be sent to Celery after commit."""

    def __init__(self) -> None:
        self.provisioned: list[str] = []
        self.decommissioned: list[str] = []
        self.previewed: list[str] = []
        self.repaired: list[str] = []
        self.webhooks: list[tuple[str, float]] = []  # (delivery id, delay in seconds)

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


class InMemoryProvisioner:
    """Keeps tenants in a dict; `fail_next` makes the next operation fail."""

    name = "in-memory"

    def __init__(self) -> None:
        self.tenants: dict[str, TenantSpec] = {}
        self.applies: list[str] = []
        self.fail_next: str | None = None
        self.lock = threading.Lock()

    def check_available(self) -> None:
        return None

    def _maybe_fail(self) -> None:
        if self.fail_next:
            message, self.fail_next = self.fail_next, None
            raise ProvisioningError(message)

    def apply(self, spec: TenantSpec, progress: ProgressCallback) -> TenantOutputs:
        self._maybe_fail()
        with self.lock:
            self.applies.append(spec.project_id)
            created = spec.project_id not in self.tenants
            self.tenants[spec.project_id] = spec
        progress(ProgressEvent("keystone project " + ("created" if created else "unchanged"),
                               "openstack:identity/project:Project", spec.openstack_project_name, "create" if created else "same"))
        return TenantOutputs(openstack_project_id=f"os-{spec.project_id}", user_name=f"{spec.openstack_project_name}-user",
                             auth_url="http://keystone.invalid/v3", region=spec.openstack_region)

    def preview(self, spec: TenantSpec) -> dict[str, Any]:
        return {"changes": {"update": 1}}

    def destroy(self, spec: TenantSpec, progress: ProgressCallback) -> None:
        self._maybe_fail()
        with self.lock:
            self.tenants.pop(spec.project_id, None)
        progress(ProgressEvent("keystone project deleted", operation="delete"))

    def credentials(self, spec: TenantSpec) -> dict[str, Any]:
        return {"auth": {"auth_url": "http://keystone.invalid/v3", "username": "u", "password": "p"}}
