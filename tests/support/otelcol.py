"""The OpenTelemetry Collector as a real OTLP receiver for tests: built from Go modules by
monitoring/otelcol/build.sh (cached in ~/.cache/sahab/otelcol), an OTLP/HTTP receiver on a free
loopback port and the debug exporter, whose detailed output is read back as spans."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.support.otlp import ReceivedSpan
from tests.support.ports import free_port, wait_for_port
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path.home() / ".cache" / "sahab" / "otelcol"


def ensure_collector() -> Path:
    """Build it once (slow the first time: several minutes on 2 cores); a failed build fails the test."""
    result = subprocess.run(
        [str(ROOT / "monitoring" / "otelcol" / "build.sh"), str(BINARY)], capture_output=True, text=True
    )
    if result.returncode != 0 or not BINARY.exists():
        pytest.fail(f"the OpenTelemetry Collector could not be built: {result.stderr[-2000:]}", pytrace=False)
    return BINARY


_FIELD = re.compile(r"^\s*(Trace ID|Parent ID|ID|Name)\s*:\s*(.*?)\s*$")
_SERVICE = re.compile(r"->\s*service\.name:\s*Str\((.*)\)")


def parse_debug_output(text: str) -> list[ReceivedSpan]:
    spans: list[ReceivedSpan] = []
    service, fields = "", {}

    def flush() -> None:
        if "Trace ID" in fields:
            spans.append(
                ReceivedSpan(
                    service,
                    fields.get("Name", ""),
                    fields["Trace ID"],
                    fields.get("ID", ""),
                    fields.get("Parent ID", ""),
                )
            )

    for line in text.splitlines():
        if found := _SERVICE.search(line):
            flush()
            fields = {}
            service = found[1]
        elif line.lstrip().startswith("Span #"):
            flush()
            fields = {}
        elif found := _FIELD.match(line):
            fields[found[1]] = found[2]
    flush()
    return spans


class Collector:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "otelcol.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Collector:
        binary = ensure_collector()
        config = self.workdir / "otelcol.yaml"
        config.write_text(
            "receivers:\n  otlp:\n    protocols:\n      http:\n"
            f"        endpoint: 127.0.0.1:{self.port}\n"
            "exporters:\n  debug:\n    verbosity: detailed\n"
            "service:\n  telemetry:\n    metrics:\n      level: none\n"
            "  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [debug]\n"
        )
        self.process = subprocess.Popen(
            [str(binary), "--config", str(config)],
            stdout=open(self.log, "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.port, 60, "the OpenTelemetry Collector", self.log.read_text(errors="replace")[-2000:])
        return self

    def __exit__(self, *_: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)

    @property
    def spans(self) -> list[ReceivedSpan]:
        return parse_debug_output(self.log.read_text(errors="replace"))

    def wait_for(self, predicate, timeout: float) -> list[ReceivedSpan]:  # type: ignore[no-untyped-def]
        """Wait until predicate(spans) is true, reading the collector's output as it is written."""

        def received() -> tuple[list[ReceivedSpan]] | None:  # the collector writes to a file: poll it
            spans = self.spans
            return (spans,) if predicate(spans) else None

        try:
            return wait_until(received, timeout, "the spans", interval=0.5)[0]
        except AssertionError:
            raise AssertionError(
                f"not received within {timeout}s; got {[(s.service, s.name) for s in self.spans]}"
            ) from None
