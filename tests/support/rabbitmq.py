"""A real RabbitMQ broker for the tests that need one, on free loopback ports, with its management
plugin (the API reads the age of the oldest message there) publishing statistics every half second.

SAHAB_TEST_BROKER_URL (and SAHAB_TEST_BROKER_MANAGEMENT_URL) skips starting one. Not installed = a loud failure."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

from tests.support.ports import free_port, wait_for_port

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"


class RabbitServer:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.external = os.environ.get("SAHAB_TEST_BROKER_URL")
        self.port = self.dist_port = self.management_port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return self.external or f"amqp://sahab:sahab@127.0.0.1:{self.port}//"

    @property
    def management_url(self) -> str:
        if self.external:
            return os.environ.get("SAHAB_TEST_BROKER_MANAGEMENT_URL", "")
        return f"http://sahab:sahab@127.0.0.1:{self.management_port}"

    def start(self) -> RabbitServer:
        if self.external:
            return self
        if not Path(SERVER).exists() and not shutil.which("rabbitmq-server"):
            raise RuntimeError("RabbitMQ is not installed: run `./dev setup` or apt-get install rabbitmq-server")
        self.base.mkdir(parents=True, exist_ok=True)
        if not self.port:  # a restart keeps its ports (and its data: durable queues survive)
            self.port, self.dist_port, self.management_port = free_port(), free_port(), free_port()
        dist = self.dist_port
        (self.base / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
            "default_user = sahab\ndefault_pass = sahab\n"
            "default_permissions.configure = .*\ndefault_permissions.read = .*\ndefault_permissions.write = .*\n"
            "loopback_users = none\n"
            f"management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {self.management_port}\n"
            "collect_statistics_interval = 500\n"
        )
        (self.base / "enabled_plugins").write_text("[rabbitmq_management].\n")
        env = dict(
            os.environ,
            HOME=str(self.base),
            RABBITMQ_NODENAME=f"sahab-test-{self.port}@localhost",
            RABBITMQ_CONFIG_FILE=str(self.base / "rabbitmq.conf"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.base / "enabled_plugins"),
            RABBITMQ_MNESIA_BASE=str(self.base / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.base / "log"),
            RABBITMQ_DIST_PORT=str(dist),
            ERL_EPMD_ADDRESS="127.0.0.1",
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
        )
        self.process = subprocess.Popen(
            [SERVER],
            env=env,
            stdout=open(self.base / "server.out", "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.port, 90, "RabbitMQ", f"see {self.base / 'server.out'} and {self.base / 'log'}")
        wait_for_port(self.management_port, 60, "RabbitMQ's management API", f"see {self.base / 'log'}")
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)

    def restart(self) -> None:
        """Stop the broker and start it again on the same port, as an operator's restart would."""
        self.stop()
        self.process = None
        self.start()
