"""Regions and object storage: offered where the catalogue gives object_gib capacity, and presets
carry none elsewhere (so a `small` request in a region without Swift is not refused for it)."""

from __future__ import annotations

from controlplane.domain.regions import DEMO_CATALOGUE, load_catalogue
from controlplane.domain.resources import PRESETS, Resource


def test_object_storage_follows_the_catalogue_and_presets_adapt():
    catalogue = load_catalogue(DEMO_CATALOGUE)
    rabat, casablanca = catalogue.get("rabat-1"), catalogue.get("casablanca-1")
    assert rabat.has_object_storage and not casablanca.has_object_storage
    assert rabat.effective_capacity()[Resource.OBJECT_GIB] == 1000  # 500 GiB x overcommit 2.0
    assert rabat.preset("small")[Resource.OBJECT_GIB] == PRESETS["small"][Resource.OBJECT_GIB] == 10
    assert casablanca.preset("small")[Resource.OBJECT_GIB] == 0
    assert casablanca.preset("small")[Resource.VCPUS] == PRESETS["small"][Resource.VCPUS]
    assert Resource.OBJECT_GIB.service == "object-store" and Resource.OBJECT_GIB.unit == "gibibytes"
