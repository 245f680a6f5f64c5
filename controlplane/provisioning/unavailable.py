"""The null provisioner: what a running service uses when no real one is configured.

It never pretends: approved requests stay approved, with this reason on them.
"""

from __future__ import annotations

from typing import Any, NoReturn

from controlplane.contract import ProgressCallback, TenantOutputs, TenantSpec
from controlplane.errors import Detail, ProvisionerUnavailable

REASON = Detail(
    "no provisioner is configured (SAHAB_PROVISIONER=unavailable); the request will be "
    "provisioned once SAHAB_PROVISIONER=pulumi is set and a worker runs"
)


class UnavailableProvisioner:
    name = "unavailable"

    def check_available(self) -> None:
        raise ProvisionerUnavailable(REASON)

    def warm_up(self) -> None:
        return None

    def _refuse(self) -> NoReturn:
        raise ProvisionerUnavailable(REASON)

    def apply(
        self, spec: TenantSpec, progress: ProgressCallback, password: str | None = None, refresh: bool = False
    ) -> TenantOutputs:
        self._refuse()

    def preview(self, spec: TenantSpec, password: str | None = None) -> dict[str, Any]:
        self._refuse()

    def destroy(self, spec: TenantSpec, progress: ProgressCallback, password: str | None = None) -> None:
        self._refuse()

    def outputs(self, spec: TenantSpec) -> TenantOutputs | None:
        self._refuse()
