"""Choose the provisioner named in settings. Implementations are found by name and
imported only when chosen, so the core never imports the Pulumi stack programs up front."""

from __future__ import annotations

import importlib
from typing import Any

from controlplane.ports import Provisioner
from controlplane.settings import Settings

_IMPLEMENTATIONS = {
    "unavailable": "controlplane.provisioning.unavailable:UnavailableProvisioner",
    "pulumi": "controlplane.provisioning.pulumi:PulumiProvisioner",
}


def provisioner_from_settings(settings: Settings) -> Provisioner:
    module_name, _, class_name = _IMPLEMENTATIONS[settings.provisioner].partition(":")
    cls: Any = getattr(importlib.import_module(module_name), class_name)
    chosen: Provisioner = cls() if settings.provisioner == "unavailable" else cls.from_settings(settings)
    return chosen
