"""Exit codes, mapped once from the problem `type` code of the API.

The codes come from controlplane.errors (the core's one exception tree): a
problem's `type` is "urn:sahab:problem:<code>", and <code> is a class's `code`.
"""

from __future__ import annotations

from typing import Any

from controlplane import errors as core

OK = 0
UNEXPECTED = 1
USAGE = 2  # Typer/Click usage errors use 2 as well
NOT_AUTHENTICATED = 3
FORBIDDEN = 4
NOT_FOUND = 5
CONFLICT = 6
INVALID_INPUT = 7
UNAVAILABLE = 8
WAIT_ENDED_BADLY = 10
WAIT_TIMED_OUT = 11

EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 unexpected error; 2 usage error; 3 not authenticated (run `sahab login`); "
    "4 forbidden; 5 not found; 6 conflict (invalid transition, capacity, organisation not verified, "
    "idempotent request in progress); 7 invalid input (incl. Idempotency-Key reused); "
    "8 service unavailable or cannot connect; 10 --wait ended in failed, rejected or cancelled; "
    "11 --wait timed out."
)

PROBLEM_PREFIX = "urn:sahab:problem:"

# Most specific first: the first class a code's class derives from wins.
_BY_CLASS: list[tuple[type[core.SahabError], int]] = [
    (core.IdempotencyKeyReused, INVALID_INPUT),
    (core.InvalidInput, INVALID_INPUT),
    (core.AuthenticationFailed, NOT_AUTHENTICATED),
    (core.PermissionDenied, FORBIDDEN),
    (core.NotFound, NOT_FOUND),
    (core.Conflict, CONFLICT),  # invalid-transition, insufficient-capacity, not verified, idempotency-in-progress...
    (core.ProvisionerUnavailable, UNAVAILABLE),
    (core.DependencyUnavailable, UNAVAILABLE),
    (core.SahabError, UNEXPECTED),
]
# Problem codes the API emits that are not core errors.
_OTHER_CODES = {"not-ready": UNAVAILABLE}
_BY_STATUS = {400: INVALID_INPUT, 401: NOT_AUTHENTICATED, 403: FORBIDDEN, 404: NOT_FOUND, 409: CONFLICT,
              422: INVALID_INPUT, 502: UNAVAILABLE, 503: UNAVAILABLE, 504: UNAVAILABLE}


def _all_error_classes() -> dict[str, type[core.SahabError]]:
    found: dict[str, type[core.SahabError]] = {}
    pending: list[type[core.SahabError]] = [core.SahabError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    return found


_CLASSES = _all_error_classes()


def exit_code_for(code: str | None, status: int | None = None) -> int:
    """The exit code for a problem code (the part after urn:sahab:problem:), falling back on the HTTP status."""
    cls = _CLASSES.get(code or "")
    if cls is not None:
        return next(exit_code for base, exit_code in _BY_CLASS if issubclass(cls, base))
    if code in _OTHER_CODES:
        return _OTHER_CODES[code]
    return _BY_STATUS.get(status or 0, UNEXPECTED)


class CliError(Exception):
    """An expected failure: printed as `Error: <title>: <detail>` without a traceback."""

    def __init__(self, title: str, detail: str = "", *, exit_code: int = UNEXPECTED, code: str | None = None,
                 status: int | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(f"{title}: {detail}" if detail else title)
        self.title = title
        self.detail = detail
        self.exit_code = exit_code
        self.code = code
        self.status = status
        self.extra = extra or {}

    @classmethod
    def from_problem(cls, status: int, body: Any) -> "CliError":
        if not isinstance(body, dict):
            return cls(f"HTTP {status}", str(body)[:500], exit_code=_BY_STATUS.get(status, UNEXPECTED), status=status)
        type_ = str(body.get("type") or "")
        code = type_[len(PROBLEM_PREFIX):] if type_.startswith(PROBLEM_PREFIX) else None
        title = str(body.get("title") or f"HTTP {status}")
        detail = str(body.get("detail") or "")
        extra = {k: v for k, v in body.items() if k not in {"type", "title", "status", "detail", "instance"}}
        return cls(title, detail, exit_code=exit_code_for(code, status), code=code, status=status, extra=extra)

    def lines(self) -> list[str]:
        """What is printed on stderr."""
        out = [f"Error: {self.title}: {self.detail}" if self.detail and self.detail != self.title else f"Error: {self.title}"]
        for shortfall in self.extra.get("shortfalls") or []:
            if isinstance(shortfall, dict):
                out.append("  shortfall: {resource}: requested {requested}, free {free} ({scope})".format(
                    resource=shortfall.get("resource"), requested=shortfall.get("requested"),
                    free=shortfall.get("free"), scope=shortfall.get("scope", "region")))
        for issue in self.extra.get("errors") or []:
            if isinstance(issue, dict):
                out.append(f"  {issue.get('location') or '-'}: {issue.get('message')}")
        if self.code == "invalid-transition" and self.extra.get("current"):
            out.append(f"  current state: {self.extra.get('current')}; wanted: {self.extra.get('target')}")
        return out


def not_authenticated(detail: str = "you are not logged in; run `sahab login`") -> CliError:
    return CliError("Not authenticated", detail, exit_code=NOT_AUTHENTICATED, code="unauthenticated")


def usage(detail: str) -> CliError:
    return CliError("Usage error", detail, exit_code=USAGE)
