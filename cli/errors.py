"""Exit codes, mapped once from the problem `type` of the API's answers.

A problem's `type` is "urn:sahab:problem:<code>". The CLI ships alone (it
imports nothing from the server's packages), so it knows the codes the API
documents by name here; a code it does not know falls back on the HTTP status.
"""

from __future__ import annotations

from typing import Any

from cli.i18n import N_, _, number

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

# The problem codes the API sends, and what each means for a script.
EXIT_CODE_BY_PROBLEM: dict[str, int] = {
    "invalid-input": INVALID_INPUT,
    "idempotency-key-reused": INVALID_INPUT,
    "unauthenticated": NOT_AUTHENTICATED,
    "forbidden": FORBIDDEN,
    "not-found": NOT_FOUND,
    "conflict": CONFLICT,
    "invalid-transition": CONFLICT,
    "organisation-not-verified": CONFLICT,
    "insufficient-capacity": CONFLICT,
    "region-not-open": CONFLICT,
    "below-usage": CONFLICT,
    "idempotency-in-progress": CONFLICT,
    "provisioner-unavailable": UNAVAILABLE,
    "dependency-unavailable": UNAVAILABLE,
    "not-ready": UNAVAILABLE,
    "provisioning-failed": UNEXPECTED,
    "concurrent-operation": UNEXPECTED,
    "internal-error": UNEXPECTED,
}
# For codes the CLI does not know yet (a newer API), the HTTP status decides.
EXIT_CODE_BY_STATUS = {
    400: INVALID_INPUT,
    401: NOT_AUTHENTICATED,
    403: FORBIDDEN,
    404: NOT_FOUND,
    409: CONFLICT,
    413: INVALID_INPUT,
    422: INVALID_INPUT,
    429: UNAVAILABLE,
    502: UNAVAILABLE,
    503: UNAVAILABLE,
    504: UNAVAILABLE,
}


def problem_code(type_: Any) -> str | None:
    """<code> of a "urn:sahab:problem:<code>" type, None for any other type."""
    text = str(type_ or "")
    return text[len(PROBLEM_PREFIX) :] if text.startswith(PROBLEM_PREFIX) else None


def exit_code_for(code: str | None, status: int | None = None) -> int:
    """The exit code for a problem code (the part after urn:sahab:problem:), falling back on the HTTP status."""
    if code in EXIT_CODE_BY_PROBLEM:
        return EXIT_CODE_BY_PROBLEM[code]
    return EXIT_CODE_BY_STATUS.get(status or 0, UNEXPECTED)


class CliError(Exception):
    """An expected failure: printed as `Error: <title>: <detail>` without a traceback."""

    def __init__(
        self,
        title: str,
        detail: str = "",
        *,
        exit_code: int = UNEXPECTED,
        code: str | None = None,
        status: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{title}: {detail}" if detail else title)
        self.title = title
        self.detail = detail
        self.exit_code = exit_code
        self.code = code
        self.status = status
        self.extra = extra or {}

    @classmethod
    def from_problem(cls, status: int, body: Any) -> CliError:
        if not isinstance(body, dict):
            return cls(
                f"HTTP {status}", str(body)[:500], exit_code=EXIT_CODE_BY_STATUS.get(status, UNEXPECTED), status=status
            )
        code = problem_code(body.get("type"))
        title = str(body.get("title") or f"HTTP {status}")
        detail = str(body.get("detail") or "")
        extra = {k: v for k, v in body.items() if k not in {"type", "title", "status", "detail", "instance"}}
        return cls(title, detail, exit_code=exit_code_for(code, status), code=code, status=status, extra=extra)

    def lines(self) -> list[str]:
        """What is printed on stderr, in the user's language (the API already sent its text in it)."""
        title, detail = _(self.title), _(self.detail)
        out = [
            _("Error: {title}: {detail}").format(title=title, detail=detail)
            if detail and detail != title
            else _("Error: {title}").format(title=title)
        ]
        for shortfall in self.extra.get("shortfalls") or []:
            if isinstance(shortfall, dict):
                out.append(
                    "  "
                    + _("shortfall: {resource}: requested {requested}, free {free} ({scope})").format(
                        resource=shortfall.get("resource"),
                        requested=number(shortfall.get("requested")),
                        free=number(shortfall.get("free")),
                        scope=shortfall.get("scope", "region"),
                    )
                )
        for issue in self.extra.get("errors") or []:
            if isinstance(issue, dict):
                out.append(f"  {issue.get('location') or '-'}: {issue.get('message')}")
        if self.code == "invalid-transition" and self.extra.get("current"):
            out.append(
                "  "
                + _("current state: {current}; wanted: {target}").format(
                    current=self.extra.get("current"), target=self.extra.get("target")
                )
            )
        return out


NOT_LOGGED_IN = N_("you are not logged in; run `sahab login`")


def not_authenticated(detail: str = NOT_LOGGED_IN) -> CliError:
    return CliError(N_("Not authenticated"), detail, exit_code=NOT_AUTHENTICATED, code="unauthenticated")


def usage(detail: str) -> CliError:
    return CliError(N_("Usage error"), detail, exit_code=USAGE)
