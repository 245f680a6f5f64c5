#!/usr/bin/env python3
"""Peak memory of the Celery worker process tree during a real provisioning (helm/README.md,
"Sizing the workers"). Samples /proc/<pid>/smaps_rollup of the workers started by the given
pytest process (and their children: pool processes, pulumi, the provider) every 0.2 s until
that process exits, and writes the peak to a JSON file.

    .venv/bin/pytest -s tests/e2e/test_provisioning_real.py::test_request_to_active_change_credentials_and_decommission &
    python3 helm/measure-worker-memory.py $! /tmp/worker-memory.json
"""

from __future__ import annotations

import json
import os
import sys
import time


def processes() -> dict[int, tuple[int, str]]:
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                found[int(entry)] = (ppid, f.read().replace(b"\0", b" ").decode(errors="replace").strip())
        except OSError:
            pass
    return found


def memory_kib(pid: int) -> tuple[int, int]:
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def descendants(table: dict[int, tuple[int, str]], roots: set[int]) -> set[int]:
    tree, grown = set(roots), True
    while grown:
        grown = False
        for pid, (ppid, _) in table.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grown = True
    return tree


def main() -> None:
    watch, out = int(sys.argv[1]), sys.argv[2]
    peak: dict = {"rss_kib": 0, "pss_kib": 0, "processes": []}
    samples = 0
    while os.path.exists(f"/proc/{watch}"):
        table = processes()
        mine = descendants(table, {watch})
        workers = {
            p
            for p in mine
            if " worker " in table[p][1]
            and "celery" in table[p][1]
            and " worker " not in table.get(table[p][0], (0, ""))[1]
        }
        tree = descendants(table, workers)
        if tree:
            samples += 1
            measured = [(table[p][1][:100], *memory_kib(p)) for p in tree]
            rss, pss = sum(m[1] for m in measured), sum(m[2] for m in measured)
            if rss > peak["rss_kib"]:
                peak.update(rss_kib=rss, pss_kib=pss, processes=sorted(measured, key=lambda m: -m[1]))
        time.sleep(0.2)
    json.dump({"samples": samples, "peak": peak}, open(out, "w"), indent=1)
    print(
        f"peak worker tree: {peak['rss_kib'] / 1024:.0f} MiB RSS, {peak['pss_kib'] / 1024:.0f} MiB PSS "
        f"({len(peak['processes'])} processes, {samples} samples)"
    )


if __name__ == "__main__":
    main()
