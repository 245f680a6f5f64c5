"""The provisioning boundary: the core asks for a tenant to exist, a provisioner makes it so.

Implementations must be idempotent: `apply` for a spec that already exists
converges instead of creating twice, so a redelivered task is harmless.

`password` is the project user's password Sahab holds (decrypted from the
database) or None when it holds none yet; the provisioner then keeps the one the
stack already has, or makes one. Outputs carry the password so the core can store it.
"""

from __future__ import annotations

from typing import Any, Protocol

from controlplane.contract import ProgressCallback, TenantOutputs, TenantSpec


class Provisioner(Protocol):
    name: str

    def check_available(self) -> None:
        """Raise ProvisionerUnavailable with the reason when nothing can be provisioned now."""

    def warm_up(self) -> None:
        """Pay one-off start-up costs before the first operation (a worker process calls it once)."""

    def apply(
        self, spec: TenantSpec, progress: ProgressCallback, password: str | None = None, refresh: bool = False
    ) -> TenantOutputs:
        """`refresh`: read the cloud first, so that changes made outside Sahab (drift) are undone."""
        ...

    def preview(self, spec: TenantSpec, password: str | None = None) -> dict[str, Any]: ...

    def destroy(self, spec: TenantSpec, progress: ProgressCallback, password: str | None = None) -> None: ...

    def outputs(self, spec: TenantSpec) -> TenantOutputs | None:
        """The outputs of the last completed apply, the password included (never log them); None
        when the tenant was never provisioned."""
        ...
