"""`request create --wait`: follow a quota request's events until it settles or the timeout passes."""

from __future__ import annotations

import os
import time
from contextlib import nullcontext
from typing import Any

from cli import errors
from cli.client import Api
from cli.i18n import _, ngettext, number, plural_count
from cli.output import console, echo, when

SUCCESS = {"active", "superseded"}
ENDED_BADLY = {"failed", "rejected", "cancelled", "decommissioning", "decommissioned"}


def poll_interval() -> float:
    try:
        return max(float(os.environ.get("SAHAB_POLL_INTERVAL", "2")), 0.05)
    except ValueError:
        return 2.0


def describe_event(event: dict[str, Any]) -> str:
    moment, actor = when(event.get("at")), event.get("actor") or "-"
    reason = event.get("reason") or ""
    if event.get("from_state") or event.get("to_state"):
        change = f"{event.get('from_state') or _('(new)')} → {event.get('to_state')}"
        return f"{moment}  {actor}  {change}" + (f"  {reason}" if reason else "")
    detail = event.get("detail") or {}
    extra = " ".join(str(detail[k]) for k in ("operation", "resource_type", "resource_name") if detail.get(k))
    return f"{moment}  {actor}  · {reason}" + (f" ({extra})" if extra else "")


def follow(api: Api, request: dict[str, Any], timeout: float, *, to_stderr: bool = False) -> tuple[int, dict[str, Any]]:
    """Print each new event; return (exit code, last request seen)."""
    request_id = request["id"]
    interval = poll_interval()
    deadline = time.monotonic() + timeout
    last_event, said = 0, set()
    out = console(stderr=to_stderr)
    status = (
        out.status(_("request {id}: {state}").format(id=request_id, state=request["state"]))
        if out.is_terminal
        else nullcontext()
    )
    with status as spinner:
        while True:
            request = api.get(f"/v1/quota-requests/{request_id}")
            for event in api.get(f"/v1/quota-requests/{request_id}/events", params={"after": last_event}):
                echo(describe_event(event), stderr=to_stderr)
                last_event = max(last_event, int(event["id"]))
            state, reason = request["state"], request.get("reason")
            if spinner is not None:
                spinner.update(
                    _("request {id}: {state}").format(id=request_id, state=state) + (f" ({reason})" if reason else "")
                )
            if state in SUCCESS:
                echo(
                    _("Request {id} is {state}; project {project}.").format(
                        id=request_id, state=state, project=request.get("project_id")
                    ),
                    stderr=to_stderr,
                )
                return errors.OK, request
            if state in ENDED_BADLY:
                echo(
                    (_("Request {id} ended {state}: {reason}") if reason else _("Request {id} ended {state}.")).format(
                        id=request_id, state=state, reason=reason
                    ),
                    stderr=to_stderr,
                )
                return errors.WAIT_ENDED_BADLY, request
            if reason and (state, reason) not in said:
                said.add((state, reason))
                echo(
                    _("Request {id} is {state}: {reason}").format(id=request_id, state=state, reason=reason),
                    stderr=to_stderr,
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                # English says "s" for any number; Arabic and French choose their plural form by the count.
                if reason:
                    timed_out = ngettext(
                        "Timed out after {seconds} s: request {id} is still {state} ({reason}).",
                        "Timed out after {seconds} s: request {id} is still {state} ({reason}).",
                        plural_count(timeout),
                    )
                else:
                    timed_out = ngettext(
                        "Timed out after {seconds} s: request {id} is still {state}.",
                        "Timed out after {seconds} s: request {id} is still {state}.",
                        plural_count(timeout),
                    )
                echo(
                    timed_out.format(seconds=number(timeout), id=request_id, state=state, reason=reason),
                    stderr=to_stderr,
                )
                return errors.WAIT_TIMED_OUT, request
            time.sleep(min(interval, remaining))
