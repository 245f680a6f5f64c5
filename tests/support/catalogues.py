"""Region catalogues for tests and benchmarks that need more room than the demo's."""

from __future__ import annotations

from pathlib import Path

import yaml

from controlplane.domain.regions import DEMO_CATALOGUE


def scaled_catalogue(directory: Path, factor: int) -> Path:
    """The demo catalogue with `factor` times its capacity, written into `directory`."""
    data = yaml.safe_load(DEMO_CATALOGUE.read_text())
    for region in data["regions"]:
        region["capacity"] = {name: value * factor for name, value in region["capacity"].items()}
    path = directory / "regions.yaml"
    path.write_text(yaml.safe_dump(data))
    return path
