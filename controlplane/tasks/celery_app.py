"""The Celery application. RabbitMQ or Redis in production; the embedded default
is kombu's filesystem transport, which needs no server (one machine only)."""

from __future__ import annotations

from celery import Celery

from controlplane.observability.queues import stamp_publish_times
from controlplane.settings import Settings

PROVISION = "sahab.provision"
DECOMMISSION = "sahab.decommission"
RECONCILE = "sahab.reconcile"
PREVIEW = "sahab.preview"
METER = "sahab.meter"
REPAIR = "sahab.repair"
DELIVER_WEBHOOK = "sahab.deliver_webhook"
WEBHOOKS_RECONCILE = "sahab.webhooks_reconcile"

CHECK_TOTALS = "sahab.check_totals"
PROGRAMMES = "sahab.programmes"

CAPTURE_CREDENTIALS = "sahab.capture-credentials"
STATEMENTS = "sahab.statements"


def create_celery(settings: Settings) -> Celery:
    app = Celery("sahab", broker=settings.broker_url)
    stamp_publish_times()  # the age of the oldest waiting message is read from these stamps
    options: dict[str, object] = {}
    if settings.broker_url.startswith("filesystem://"):
        queue_dir = settings.broker_dir / "queue"
        processed = settings.broker_dir / "processed"
        queue_dir.mkdir(parents=True, exist_ok=True)
        processed.mkdir(parents=True, exist_ok=True)
        control = settings.broker_dir / "control"  # kombu's default is ./control in the working directory
        control.mkdir(parents=True, exist_ok=True)
        # The transport polls its folder; kombu's default of once a second added half a second on
        # average to every task. Listing a small folder ten times a second costs nothing measurable.
        options = {
            "data_folder_in": str(queue_dir),
            "data_folder_out": str(queue_dir),
            "processed_folder": str(processed),
            "store_processed": False,
            "control_folder": str(control),
            "polling_interval": 0.1,
        }
    app.conf.update(
        broker_transport_options=options,
        broker_connection_retry_on_startup=True,
        # A task is acknowledged only once it finished, so a killed worker's task is redelivered;
        # the workflow makes redelivery harmless.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue="sahab",
        worker_hijack_root_logger=False,
        beat_schedule={
            "reconcile": {"task": RECONCILE, "schedule": 30.0},
            # The invariant of the running totals: recomputed from the projects, repaired if it ever differs.
            "check-totals": {
                "task": CHECK_TOTALS,
                "schedule": settings.totals_check_interval_seconds,
                "options": {"expires": settings.totals_check_interval_seconds},
            },
            # A collection older than one interval is useless: expire it instead of piling up.
            "meter": {
                "task": METER,
                "schedule": settings.metering_interval_seconds,
                "options": {"expires": settings.metering_interval_seconds},
            },
            # Webhook deliveries whose task was lost (broker down at send time, worker killed mid-attempt).
            "webhooks": {"task": WEBHOOKS_RECONCILE, "schedule": 30.0, "options": {"expires": 30.0}},
            # Last month's statements, this month's drafts, budget alerts (controlplane/billing/schedule.py).
            "statements": {
                "task": STATEMENTS,
                "schedule": settings.statements_interval_seconds,
                "options": {"expires": settings.statements_interval_seconds},
            },
            # Programme expiry notices, expiries and shrinking, found in the database.
            "programmes": {
                "task": PROGRAMMES,
                "schedule": settings.programmes_check_interval_seconds,
                "options": {"expires": settings.programmes_check_interval_seconds},
            },
        },
    )
    return app


class CeleryQueue:
    def __init__(self, app: Celery) -> None:
        self.app = app

    def provision(self, request_id: str) -> None:
        self.app.send_task(PROVISION, args=[request_id])

    def decommission(self, project_id: str) -> None:
        self.app.send_task(DECOMMISSION, args=[project_id])

    def preview(self, request_id: str) -> None:
        self.app.send_task(PREVIEW, args=[request_id])

    def repair(self, project_id: str) -> None:
        self.app.send_task(REPAIR, args=[project_id])

    def deliver_webhook(self, delivery_id: str, delay_seconds: float = 0) -> None:
        self.app.send_task(DELIVER_WEBHOOK, args=[delivery_id], countdown=delay_seconds or None)

    def capture_credentials(self, project_id: str) -> None:
        self.app.send_task(CAPTURE_CREDENTIALS, args=[project_id])

    def ping(self) -> None:
        """Raise if the broker cannot be reached (used by /readyz). One attempt: a retry would first sleep
        kombu's 2 s interval, longer than a readiness probe waits, and the probe itself is the retry."""
        with self.app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=0, timeout=2)
