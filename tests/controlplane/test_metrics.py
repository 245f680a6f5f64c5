"""/metrics survives a metrics file left unreadable by a process killed while growing it."""

from __future__ import annotations

import struct
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.mmap_dict import MmapedDict

from controlplane.metrics import TolerantMultiProcessCollector


def _counter_file(directory: Path, pid: int, value: float) -> Path:
    path = directory / f"counter_{pid}.db"
    values = MmapedDict(str(path))
    values.write_value('["sahab_test_total", "sahab_test_total", {}, "help"]', value, 0.0)
    values.close()
    return path


def test_an_unreadable_file_is_skipped_and_the_others_are_served(tmp_path: Path) -> None:
    _counter_file(tmp_path, 1, 2.0)
    broken = _counter_file(tmp_path, 2, 5.0)
    with open(broken, "r+b") as handle:  # a header claiming more bytes than the file holds
        handle.write(struct.pack("i", 1 << 20))
    registry = CollectorRegistry()
    TolerantMultiProcessCollector(registry, path=str(tmp_path))

    exposition = generate_latest(registry).decode()

    assert "sahab_test_total 2.0" in exposition
