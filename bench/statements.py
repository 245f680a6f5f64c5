"""How long a monthly statement takes to compute and to render, on SQLite (a private file).

One organisation with --projects projects, each with a month of 5-minute samples (8,928 each), a price
change on the 16th and a programme discount ending on the 11th; prints the compute time, and the PDF
and CSV render times side by side. `.venv/bin/python bench/statements.py [--projects 10]`."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert  # noqa: E402

from api.i18n import translate  # noqa: E402
from controlplane.billing import exports, statements  # noqa: E402
from controlplane.billing.billing import Billing  # noqa: E402
from controlplane.billing.compute import compute  # noqa: E402
from controlplane.persistence.database import make_engine, make_session_factory, transaction  # noqa: E402
from controlplane.persistence.migrate import upgrade  # noqa: E402
from controlplane.persistence.models import UsageSample  # noqa: E402
from controlplane.quota_requests.admission import ensure_regions  # noqa: E402
from tests import factories  # noqa: E402
from tests.support.billing import FakeDiscounts, fifty_percent, march_price_change  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        upgrade(url)
        sessions = make_session_factory(make_engine(url))
        start = datetime(2026, 3, 1, tzinfo=UTC)
        with transaction(sessions) as session:
            ensure_regions(session, ["rabat-1"])
            org = factories.organisation(session)
            for _ in range(args.projects):
                project = factories.project(session, org.id, created_at=start - timedelta(days=1), granted={"vcpus": 4})
                session.execute(
                    insert(UsageSample),
                    [
                        {
                            "project_id": project.id,
                            "organisation_id": org.id,
                            "region_id": "rabat-1",
                            "at": start + timedelta(minutes=5 * i),
                            "used": {"volume_gib": 10 + i % 50, "vcpus": i % 4},
                            "quota": {"vcpus": 4, "ram_mib": 8192, "volume_gib": 100},
                        }
                        for i in range(31 * 24 * 12)
                    ],
                )
        billing = Billing(march_price_change(), FakeDiscounts({org.id: [fifty_percent(until=date(2026, 3, 11))]}))
        with transaction(sessions) as session:
            began, cpu = time.perf_counter(), time.process_time()
            computed = compute(
                session, org, "2026-03", datetime(2026, 4, 1, 1, tzinfo=UTC), billing.prices, billing.discounts
            )
            computing, computing_cpu = time.perf_counter() - began, time.process_time() - cpu
            statement = statements.issue(session, billing, org, "2026-03", datetime(2026, 4, 1, 1, tzinfo=UTC))
            began = time.perf_counter()
            exports.to_csv(statement)
            csv_time = time.perf_counter() - began
            times = {}
            exports.to_pdf(statement, org, "en", lambda text: text)  # the first one loads fonts: not counted
            for language in exports.LANGUAGES:
                began, cpu = time.perf_counter(), time.process_time()
                exports.to_pdf(statement, org, language, lambda text, language=language: translate(text, language))
                times[language] = (time.perf_counter() - began, time.process_time() - cpu)
    samples = args.projects * 31 * 24 * 12
    print(f"projects {args.projects}, samples {samples:,}, lines {len(computed.lines)}")
    print(
        f"compute: wall {computing:.2f} s, CPU {computing_cpu:.2f} s ({computing_cpu / samples * 1e6:.1f} µs CPU per sample)"
    )
    print(
        f"csv {csv_time * 1000:.1f} ms; "
        + ", ".join(f"pdf {k}: wall {w:.2f} s, CPU {c:.2f} s" for k, (w, c) in times.items())
    )


if __name__ == "__main__":
    main()
