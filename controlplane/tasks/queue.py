"""How services ask for background work. Sent only after the transaction commits
(see persistence.database.after_commit), and carrying ids only: the task reloads state."""

from __future__ import annotations

from typing import Protocol


class TaskQueue(Protocol):
    def provision(self, request_id: str) -> None: ...

    def decommission(self, project_id: str) -> None: ...

    def preview(self, request_id: str) -> None: ...

    def repair(self, project_id: str) -> None: ...

    def deliver_webhook(self, delivery_id: str, delay_seconds: float = 0) -> None: ...

    def capture_credentials(self, project_id: str) -> None:
        """A worker reads the credentials of a project provisioned before they were stored."""
        ...
