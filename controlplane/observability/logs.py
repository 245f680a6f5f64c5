"""Structured logs: with SAHAB_LOG_FORMAT=json every line is one JSON object carrying the trace id,
span id and request id of the work it describes, and secrets are masked before a line is written
(passwords in URLs, bearer tokens, and fields named like credentials)."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from controlplane.observability.tracing import current_span_id, current_trace_id

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("sahab_request_id", default="")
# The trace of a request whose span has ended while its task still logs (uvicorn's "Exception in ASGI
# application" comes after the server span closed): set by the API's request middleware on a failure.
FAILED_TRACE_ID: contextvars.ContextVar[str] = contextvars.ContextVar("sahab_failed_trace_id", default="")
# uvicorn's logging configuration with JSON lines (`sahab-server api` passes it as --log-config).
UVICORN_LOG_CONFIG = Path(__file__).with_name("uvicorn-logging.json")

MASK = "***"
_SECRET_KEY = re.compile(r"pass(word|phrase)?|secret|token|authori[sz]ation|api[_-]?key|credential|cookie", re.I)
_PATTERNS = [
    # scheme://user:password@host -> scheme://user:***@host
    (re.compile(r"(?P<keep>[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+(?=@)", re.I), rf"\g<keep>{MASK}"),
    # Authorization: Bearer <token>, Basic <credentials>
    (re.compile(r"(?P<keep>\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]+", re.I), rf"\g<keep>{MASK}"),
    # key=value and "key": "value" where the key names a secret
    (
        re.compile(
            r"(?P<keep>\b[\w-]*(?:pass(?:word|phrase)?|secret|token|api[_-]?key)[\w-]*\b[\"']?\s*[=:]\s*[\"']?)[^\s\"',;&}]+",
            re.I,
        ),
        rf"\g<keep>{MASK}",
    ),
    # JSON Web Tokens wherever they appear
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), MASK),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(key: str, value: Any) -> Any:
    if _SECRET_KEY.search(key):
        return MASK
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_value(key, v) for v in value]
    return value


# Attributes every LogRecord has; anything else was passed with `extra=` and is logged as a field.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
            "trace_id": current_trace_id() or FAILED_TRACE_ID.get(),
            "span_id": current_span_id(),
            "request_id": REQUEST_ID.get(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in line:
                line[key] = _redact_value(key, value)
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, default=str, ensure_ascii=False)


def configure(log_format: str, level: str = "INFO", stream: Any = None) -> logging.Handler | None:
    """JSON lines on stderr for the root logger (replacing its handlers); text keeps the default setup."""
    if log_format != "json":
        return None
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler
