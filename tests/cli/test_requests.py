"""Quota requests from the CLI: create, --wait, list/show/events/cancel, approvals and their errors."""

from __future__ import annotations

import threading
import uuid

import httpx

from cli import wait
from tests.support.cli import Cli
from tests.support.waiting import wait_until


def env_name(prefix: str = "e") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create(cli: Cli, user: str, *args: str) -> dict:
    return cli.json("request", "create", "--region", "rabat-1", "--justification", "tests of the cli", *args, user=user)


def test_create_with_a_preset_and_with_custom_amounts(cli: Cli) -> None:
    # amina belongs to one organisation: --org may be omitted. Within the agency envelope: approved at once.
    small = create(cli, "amina", "--env", env_name(), "--preset", "small")
    assert small["organisation_id"] == "org_demo_agency"
    assert small["state"] == "approved" and small["amounts"]["vcpus"] == 4
    custom = create(
        cli,
        "amina",
        "--org",
        "org_demo_agency",
        "--env",
        env_name(),
        "--vcpus",
        "2",
        "--ram-gib",
        "4",
        "--volume-gib",
        "10",
        "--instances",
        "1",
        "--idempotency-key",
        "k-" + uuid.uuid4().hex,
    )
    assert {k: v for k, v in custom["amounts"].items() if v} == {
        "vcpus": 2,
        "ram_mib": 4096,
        "volume_gib": 10,
        "instances": 1,
    }
    shown = cli("request", "show", custom["id"], user="amina")
    assert shown.exit_code == 0 and custom["id"] in shown.stdout and "ram=4GiB" in shown.stdout


def test_idempotency_key_replays_and_refuses_reuse(cli: Cli) -> None:
    key, env = "k-" + uuid.uuid4().hex, env_name()
    first = create(cli, "amina", "--env", env, "--preset", "small", "--idempotency-key", key)
    again = create(cli, "amina", "--env", env, "--preset", "small", "--idempotency-key", key)
    assert again["id"] == first["id"]
    other = cli(
        "request",
        "create",
        "--region",
        "rabat-1",
        "--env",
        env_name(),
        "--preset",
        "small",
        "--justification",
        "other body",
        "--idempotency-key",
        key,
        user="amina",
    )
    assert other.exit_code == 7 and "Idempotency-Key" in other.stderr


def test_wait_times_out_while_waiting_for_provisioning(cli: Cli) -> None:
    result = cli(
        "request",
        "create",
        "--region",
        "rabat-1",
        "--env",
        env_name(),
        "--preset",
        "small",
        "--justification",
        "wait for it",
        "--wait",
        "--timeout",
        "1.5",
        user="amina",
    )
    assert result.exit_code == 11, (result.stdout, result.stderr)
    assert "→ approved" in result.stdout
    assert result.stdout.count("is approved: waiting for provisioning: no provisioner is configured") == 1
    assert "Timed out after 1.5 s" in result.stdout


def test_wait_until_active_shows_each_event(cli: Cli) -> None:
    result = cli(
        "request",
        "create",
        "--region",
        "rabat-1",
        "--env",
        env_name("live"),
        "--vcpus",
        "1",
        "--ram-gib",
        "1",
        "--instances",
        "1",
        "--justification",
        "a live one",
        "--wait",
        "--timeout",
        "20",
        user="amina",
    )
    assert result.exit_code == 0, (result.stdout, result.stderr)
    for text in (
        "(new) → submitted",
        "submitted → approved",
        "approved → provisioning",
        "keystone project created",
        "provisioning → active",
        "is active; project prj",
    ):
        assert text in result.stdout, result.stdout


def test_wait_on_a_submitted_request_prints_the_reason_and_ends_rejected(cli: Cli, monkeypatch) -> None:
    env = env_name()
    waiting = threading.Event()  # set once `--wait` has said the request waits for an approver
    printed = wait.echo

    def echo(text: str, **kwargs: object) -> None:
        printed(text, **kwargs)
        if "waiting for an approver" in text:
            waiting.set()

    monkeypatch.setattr(wait, "echo", echo)

    def reject_when_submitted() -> None:  # salma, as a person would from another terminal
        if not waiting.wait(20):
            return  # the CLI's own timeout then fails the test with what it printed
        token = cli.tokens["salma"]
        with httpx.Client(base_url=cli.served.url, headers={"Authorization": f"Bearer {token}"}) as http:
            items = http.get(
                "/v1/quota-requests", params={"state": "submitted", "organisation_id": "org_demo_business"}
            ).json()["items"]
            mine = next(r for r in items if r["environment"] == env)
            http.post(f"/v1/quota-requests/{mine['id']}/reject", json={"reason": "not this quarter"})

    rejecter = threading.Thread(target=reject_when_submitted)
    rejecter.start()
    result = cli(
        "request",
        "create",
        "--region",
        "rabat-1",
        "--env",
        env,
        "--preset",
        "medium",
        "--justification",
        "more than the envelope",
        "--wait",
        "--timeout",
        "20",
        user="youssef",
    )
    rejecter.join()
    assert result.exit_code == 10, (result.stdout, result.stderr)
    assert "is submitted: waiting for an approver" in result.stdout
    assert "submitted → rejected  not this quarter" in result.stdout
    assert "ended rejected: not this quarter" in result.stdout


def test_list_show_events_cancel(cli: Cli) -> None:
    created = create(cli, "youssef", "--env", env_name(), "--preset", "medium")
    assert created["state"] == "submitted" and created["reason"].startswith("waiting for an approver")
    listed = cli.json("request", "list", "--state", "submitted", "--org", "org_demo_business", "--all", user="youssef")
    assert created["id"] in [r["id"] for r in listed["items"]] and listed["next_cursor"] is None
    table = cli("request", "list", user="youssef")
    assert table.exit_code == 0 and created["id"] in table.stdout
    assert cli.json("request", "show", created["id"], user="youssef") == created
    events = cli.json("request", "events", created["id"], user="youssef")
    assert [(e["from_state"], e["to_state"]) for e in events] == [(None, "submitted")]
    assert cli("request", "events", created["id"], user="youssef").exit_code == 0
    cancelled = cli("request", "cancel", created["id"], "--reason", "changed my mind", user="youssef")
    assert cancelled.exit_code == 0 and "cancelled" in cancelled.stdout
    events = cli.json("request", "events", created["id"], user="youssef")
    assert events[-1]["to_state"] == "cancelled" and events[-1]["reason"] == "changed my mind"


def test_admin_approve_reject_and_an_illegal_transition(cli: Cli) -> None:
    one = create(cli, "youssef", "--env", env_name(), "--preset", "medium")
    two = create(cli, "youssef", "--env", env_name(), "--preset", "medium")
    waiting = cli.json("admin", "requests", user="salma")
    assert {one["id"], two["id"]} <= {r["id"] for r in waiting["items"]}
    assert one["id"] in cli("admin", "requests", "--state", "submitted", user="salma").stdout
    approved = cli("admin", "approve", one["id"], "--reason", "fine", user="salma")
    assert approved.exit_code == 0 and "approved" in approved.stdout
    rejected = cli.json("admin", "reject", two["id"], "--reason", "too much", user="salma")
    assert rejected["state"] == "rejected" and rejected["reason"] == "too much"

    illegal = cli("request", "cancel", one["id"], user="youssef")
    assert illegal.exit_code == 6
    assert "cannot go from approved to cancelled" in illegal.stderr
    assert illegal.stderr.startswith("Error: The transition is not allowed from the current state:")
    assert "Traceback" not in illegal.output

    # Approving is for approvers only.
    forbidden = cli("admin", "approve", two["id"], user="youssef")
    assert forbidden.exit_code == 4 and "approver" in forbidden.stderr
    # A rejected request cannot be retried.
    retried = cli("request", "retry", two["id"], user="youssef")
    assert retried.exit_code == 6 and "only a failed request can be retried" in retried.stderr


def test_wait_ends_failed_then_retry_makes_it_active(cli: Cli) -> None:
    cli.served.queue.live.fail_next = "the cloud said no"
    env = env_name("live")
    failed = cli(
        "request",
        "create",
        "--region",
        "rabat-1",
        "--env",
        env,
        "--vcpus",
        "1",
        "--ram-gib",
        "1",
        "--justification",
        "fails once",
        "--wait",
        "--timeout",
        "20",
        user="amina",
    )
    assert failed.exit_code == 10, (failed.stdout, failed.stderr)
    assert "provisioning → failed" in failed.stdout and "the cloud said no" in failed.stdout
    request = cli.json("request", "list", "--state", "failed", "--all", user="amina")["items"]
    request_id = next(r["id"] for r in request if r["environment"] == env)
    retried = cli.json("request", "retry", request_id, user="amina")
    assert retried["state"] == "provisioning"
    wait_until(
        lambda: cli.json("request", "show", request_id, user="amina")["state"] == "active", 10, "the retry provisioning"
    )


def test_bad_input_never_shows_a_traceback(cli: Cli) -> None:
    base = ("request", "create", "--region", "rabat-1", "--justification", "bad input")
    unknown = cli(*base, "--env", env_name(), "--preset", "huge", user="amina")
    assert unknown.exit_code == 7 and "unknown preset" in unknown.stderr
    negative = cli(*base, "--env", env_name(), "--vcpus", "-1", user="amina")
    assert negative.exit_code == 7 and "amounts must be >= 0" in negative.stderr
    bad_env = cli(*base, "--env", "Not Valid", "--preset", "small", user="amina")
    assert bad_env.exit_code == 7 and "environment" in bad_env.stderr
    nothing = cli(*base, "--env", env_name(), user="amina")
    assert nothing.exit_code == 2 and "--preset" in nothing.stderr
    not_a_number = cli(*base, "--env", env_name(), "--vcpus", "many", user="amina")
    assert not_a_number.exit_code == 2
    for result in (unknown, negative, bad_env, nothing, not_a_number):
        assert "Traceback" not in result.output


def test_other_organisations_requests_are_not_found(cli: Cli) -> None:
    aminas = create(cli, "amina", "--env", env_name(), "--preset", "small")
    result = cli("request", "show", aminas["id"], user="youssef")
    assert result.exit_code == 5
    assert result.stderr.startswith(f"Error: Not found: quota request {aminas['id']} not found")
    assert cli("request", "events", aminas["id"], user="youssef").exit_code == 5
    assert (
        cli(
            "request",
            "create",
            "--org",
            "org_demo_agency",
            "--region",
            "rabat-1",
            "--env",
            env_name(),
            "--preset",
            "small",
            "--justification",
            "not mine",
            user="youssef",
        ).exit_code
        == 5
    )


def test_staff_must_name_the_organisation(cli: Cli) -> None:
    result = cli(
        "request",
        "create",
        "--region",
        "rabat-1",
        "--env",
        env_name(),
        "--preset",
        "small",
        "--justification",
        "which org?",
        user="salma",
    )
    assert result.exit_code == 2 and "--org is required" in result.stderr


def test_approving_beyond_capacity_lists_the_shortfalls(cli: Cli) -> None:
    # Within rabat-1's 256 vCPUs (more is refused at input) but beyond a business's 192.
    big = create(cli, "youssef", "--env", env_name(), "--vcpus", "200", "--ram-gib", "1")
    assert big["state"] == "submitted" and big["reason"].startswith("waiting for an approver")
    refused = cli("admin", "approve", big["id"], user="salma")
    assert refused.exit_code == 6
    assert refused.stderr.startswith("Error: Not enough free capacity in the region:")
    assert "shortfall: vcpus: requested 200" in refused.stderr


def test_show_gives_the_approver_the_preview_of_a_change(cli: Cli) -> None:
    env = env_name("live")
    first = cli(
        "request",
        "create",
        "--region",
        "rabat-1",
        "--env",
        env,
        "--preset",
        "small",
        "--justification",
        "start small",
        "--wait",
        "--timeout",
        "20",
        user="amina",
    )
    assert first.exit_code == 0, first.stderr
    change = cli.json(
        "request",
        "create",
        "--region",
        "rabat-1",
        "--env",
        env,
        "--preset",
        "large",
        "--justification",
        "grow a lot",
        user="amina",
    )
    assert change["state"] == "submitted" and change["kind"] == "change"
    shown = cli("request", "show", change["id"], user="salma")
    assert shown.exit_code == 0, shown.stderr
    assert "quota change" in shown.stdout and "vcpus 4 → 64" in shown.stdout
    assert "plan" in shown.stdout
