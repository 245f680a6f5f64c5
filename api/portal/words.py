"""Names the pages show for the core's values (states, kinds, sizes, problem codes), marked for
translation; the values themselves never change with the language."""

from __future__ import annotations

import re
from collections.abc import Callable


def N_(message: str) -> str:  # noqa: N802 - marks a message for extraction; translated where it is shown
    return message


STATES = {
    "submitted": N_("waiting for a decision"),
    "approved": N_("approved"),
    "rejected": N_("rejected"),
    "cancelled": N_("cancelled"),
    "provisioning": N_("provisioning"),
    "active": N_("active"),
    "failed": N_("failed"),
    "superseded": N_("superseded"),
    "decommissioning": N_("decommissioning"),
    "decommissioned": N_("decommissioned"),
    "pending": N_("pending"),
    "pending_verification": N_("waiting for verification"),
    "verified": N_("verified"),
    "suspended": N_("suspended"),
    "delivered": N_("delivered"),
    "open": N_("open"),
    "draining": N_("draining"),
    "closed": N_("closed"),
}
RESOURCES = {
    "vcpus": N_("vCPUs"),
    "ram_mib": N_("RAM (MiB)"),
    "instances": N_("Instances"),
    "volume_gib": N_("Volume storage (GiB)"),
    "volumes": N_("Volumes"),
    "snapshots": N_("Snapshots"),
    "networks": N_("Networks"),
    "subnets": N_("Subnets"),
    "ports": N_("Ports"),
    "routers": N_("Routers"),
    "floating_ips": N_("Floating IPs"),
    "security_groups": N_("Security groups"),
    "security_group_rules": N_("Security group rules"),
    "object_gib": N_("Object storage (GiB)"),
}
# What Pulumi did to a resource, as the provisioning progress reports it (ProgressEvent.operation).
OPERATIONS = {"create": N_("created"), "update": N_("updated"), "delete": N_("deleted"), "replace": N_("replaced")}
KINDS = {"agency": N_("public agency"), "business": N_("business")}
PRESETS = {"small": N_("Small"), "medium": N_("Medium"), "large": N_("Large")}
DRIFT = {
    "quota_changed": N_("quota changed outside Sahab"),
    "usage_above_quota": N_("usage above quota"),
    "project_missing": N_("project missing on the cloud"),
}
# The core's problem titles, by their stable code.
TITLES = {
    "invalid-input": N_("The request is not valid"),
    "unauthenticated": N_("Authentication failed"),
    "forbidden": N_("Not allowed"),
    "not-found": N_("Not found"),
    "conflict": N_("Conflict with the current state"),
    "invalid-transition": N_("The transition is not allowed from the current state"),
    "organisation-not-verified": N_("The organisation is not verified yet"),
    "insufficient-capacity": N_("Not enough free capacity in the region"),
    "region-not-open": N_("The region does not accept new quota"),
    "below-usage": N_("The requested quota is below current usage"),
    "dependency-unavailable": N_("A service Sahab depends on is unavailable"),
    "separation-of-duties": N_("Another approver or operator must decide"),
    "national-id-already-verified": N_("Another organisation with this national ID is already verified"),
    "too-many-pending-requests": N_("The organisation has too many requests waiting for a decision"),
    "webhook-target-refused": N_("The webhook URL may not be used"),
    "webhook-target-unresolved": N_("The webhook host does not resolve"),
    "credentials-pending": N_("The credentials are being fetched"),
    "credentials-unreadable": N_("Stored credentials cannot be opened with the configured keys"),
}
# The built-in issuer's sign-in page (api/issuer/pages.py) speaks the portal's languages too.
SIGN_IN_PAGE = (
    N_("Sign in to Sahab"),
    N_("Sign in to let %(client)s act for you on Sahab."),
    N_("Username"),
    N_("Password"),
    N_("Cancel"),
)
# The built-in issuer's device page (sahab login) too: its words and its answers (api/issuer/app.py).
DEVICE_PAGE = (
    N_("Sign in a device"),
    N_("Enter the code shown by %(command)s, then sign in to approve it."),
    N_("Code"),
    N_("Approve"),
    N_("Deny"),
)
DEVICE_ERRORS = {
    "no-code": N_("Enter the code shown by the CLI."),
    "unknown-action": N_("Unknown action."),
    "unknown-code": N_("This code is unknown, expired or already used. Start the sign-in again from the CLI."),
    "used-meanwhile": N_("This code expired or was used meanwhile. Start the sign-in again."),
}
DEVICE_DONE = {
    "refused": (N_("Sign-in refused"), N_("The device was not signed in. You can close this page.")),
    "signed-in": (
        N_("Device signed in"),
        N_("Signed in as %(name)s. Return to your terminal; you can close this page."),
    ),
}
WRONG_PASSWORD = N_("Wrong username or password.")
LOCKED = N_("Too many failed attempts. Try again in %(seconds)s s.")
FALLBACK_TITLES = (N_("Something went wrong"), N_("The request could not be made"))


def context() -> dict[str, object]:
    return {
        "labels": STATES,
        "resource_names": RESOURCES,
        "operations": OPERATIONS,
        "kind_names": KINDS,
        "preset_names": PRESETS,
        "drift_names": DRIFT,
        "titles": TITLES,
    }


# The reasons the core writes on requests (controlplane.quota_requests), said in the person's language;
# anything else (an approver's own words) is shown as it was written.
_ABOVE = re.compile(r"^waiting for an approver: above the (agency|business) envelope \([\w-]+\) for (.+)$")
_REASONS = {
    re.compile(r"^approved automatically: within the \w+ envelope \([\w-]+\)$"): N_(
        "Approved automatically, within what the organisation gets."
    ),
    re.compile(r"^approved automatically: within the envelope of programme .*$"): N_(
        "Approved automatically, within the envelope of the organisation's programme, from its reserve."
    ),
    re.compile(r"^waiting for an approver: not enough free capacity in the reserve of programme .*$"): N_(
        "Waiting for an approver: the programme's reserve in the region does not have enough room now."
    ),
    re.compile(r"^approved automatically: a decrease$"): N_("Approved automatically: a decrease."),
    re.compile(r"^waiting for an approver: not enough free capacity: .*$"): N_(
        "Waiting for an approver: the region does not have enough free capacity now."
    ),
    re.compile(r"^cancelled by the requester$"): N_("Cancelled by the requester."),
    re.compile(r"^retry requested$"): N_("Retry requested."),
    re.compile(r"^provisioning started$"): N_("Provisioning started."),
    re.compile(r"^provisioned$"): N_("Provisioned: the project is ready."),
    re.compile(r"^resetting quotas to zero before removal$"): N_("Setting the quotas to zero before removal."),
}


def explain(gettext: Callable[[str], str], reason: str | None) -> str:
    if not reason:
        return "—"
    above = _ABOVE.match(reason)
    if above:
        names = gettext(", ").join(
            gettext(RESOURCES.get(name.strip(), name.strip())) for name in above.group(2).split(",")
        )
        message = (
            N_("An approver must decide: this is above what a public agency gets automatically (%(resources)s).")
            if above.group(1) == "agency"
            else N_("An approver must decide: this is above what a business gets automatically (%(resources)s).")
        )
        return gettext(message) % {"resources": names}
    for pattern, message in _REASONS.items():
        if pattern.match(reason):
            return gettext(message)
    return reason
