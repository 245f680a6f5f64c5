"""The provisioning boundary: the core asks for a tenant to exist, a provisioner makes it so.

Implementations must be idempotent: `apply` for a spec that already exists
converges instead of creating twice, so a redelivered task is harmless.
"""

from __future__ import annotations

from typing import Any, Protocol

from controlplane.contract import ProgressCallback, TenantOutputs, TenantSpec


class Provisioner(Protocol):
    name: str

    def check_available(self) -> None:
        """Raise ProvisionerUnavailable with the reason when nothing can be provisioned now."""

    def apply(self, spec: TenantSpec, progress: ProgressCallback) -> TenantOutputs: ...

    def preview(self, spec: TenantSpec) -> dict[str, Any]: ...

    def destroy(self, spec: TenantSpec, progress: ProgressCallback) -> None: ...

    def credentials(self, spec: TenantSpec) -> dict[str, Any]:
        """The project user's clouds.yaml entry (contains a secret: never log it)."""
        ...
