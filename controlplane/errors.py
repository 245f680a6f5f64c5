"""The one exception tree of the core.

Every error raised on purpose derives from SahabError and carries a stable
`code`. The edges map codes once: the API to HTTP status and problem+json
`type` (api/problems.py), the CLI to exit codes (cli/errors.py).
"""

from __future__ import annotations

from typing import Any


class Detail(str):
    """A problem's detail: the English text, plus the template and values it was made from, so that an
    edge can say it again in its reader's language (api/i18n.py). The template is the gettext msgid
    (`i18n/update` extracts every `Detail("...")`); the values are ids, states, numbers and dates."""

    template: str
    params: dict[str, Any]
    plural: str | None = None  # a counted detail: the English plural, chosen by `count`
    quantity: int = 0  # not `count`: str has a method of that name

    def __new__(cls, template: str, **params: Any) -> Detail:
        shown = {
            name: " and ".join(map(str, value)) if isinstance(value, (list, tuple)) else value
            for name, value in params.items()
        }
        text = super().__new__(cls, template.format(**shown) if params else template)
        text.template, text.params = template, params
        return text

    @classmethod
    def counted(cls, singular: str, plural: str, count: int, **params: Any) -> Detail:
        """A detail whose wording depends on a number (Arabic has six forms, French three)."""
        text = cls(singular if count == 1 else plural, **params)
        text.template, text.plural, text.quantity = singular, plural, count
        return text


class SahabError(Exception):
    code = "internal-error"
    title = "Internal error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidInput(SahabError):
    code = "invalid-input"
    title = "The request is not valid"


class PayloadTooLarge(InvalidInput):
    """Input too large to read at all: its own status (413), the invalid-input family's exit code."""

    code = "payload-too-large"
    title = "The request body is too large"


class AuthenticationFailed(SahabError):
    code = "unauthenticated"
    title = "Authentication failed"


class PermissionDenied(SahabError):
    code = "forbidden"
    title = "Not allowed"


class NotFound(SahabError):
    code = "not-found"
    title = "Not found"


class Conflict(SahabError):
    code = "conflict"
    title = "Conflict with the current state"


class InvalidTransition(Conflict):
    code = "invalid-transition"
    title = "The transition is not allowed from the current state"


class OrganisationNotVerified(Conflict):
    code = "organisation-not-verified"
    title = "The organisation is not verified yet"


class InsufficientCapacity(Conflict):
    code = "insufficient-capacity"
    title = "Not enough free capacity in the region"


class RegionNotOpen(Conflict):
    code = "region-not-open"
    title = "The region does not accept new quota"


class BelowUsage(Conflict):
    code = "below-usage"
    title = "The requested quota is below current usage"


class IdempotencyKeyReused(SahabError):
    code = "idempotency-key-reused"
    title = "The Idempotency-Key was already used with another request"


class IdempotencyRequestInProgress(Conflict):
    code = "idempotency-in-progress"
    title = "A request with this Idempotency-Key is still in progress"


class ProvisioningError(SahabError):
    code = "provisioning-failed"
    title = "Provisioning failed"


class ProvisionerUnavailable(ProvisioningError):
    code = "provisioner-unavailable"
    title = "No provisioner is configured"


class ConcurrentOperation(ProvisioningError):
    code = "concurrent-operation"
    title = "Another operation on this stack is running"


class DependencyUnavailable(SahabError):
    code = "dependency-unavailable"
    title = "A service Sahab depends on is unavailable"


class SeparationOfDuties(PermissionDenied):
    code = "separation-of-duties"
    title = "Another approver or operator must decide"


class NationalIdAlreadyVerified(Conflict):
    code = "national-id-already-verified"
    title = "Another organisation with this national ID is already verified"


class TooManyPendingRequests(Conflict):
    code = "too-many-pending-requests"
    title = "The organisation has too many requests waiting for a decision"


class WebhookTargetRefused(InvalidInput):
    code = "webhook-target-refused"
    title = "The webhook URL may not be used"


class WebhookTargetUnresolved(WebhookTargetRefused):
    """The name does not resolve (now): at delivery this is retried, at save time it is refused."""

    code = "webhook-target-unresolved"
    title = "The webhook host does not resolve"


class CredentialsPending(DependencyUnavailable):
    code = "credentials-pending"
    title = "The credentials are being fetched"


class CredentialsUnreadable(SahabError):
    code = "credentials-unreadable"
    title = "Stored credentials cannot be opened with the configured keys"


class BudgetExceeded(Conflict):
    code = "budget-exceeded"
    title = "The request would take the organisation above its monthly budget"
