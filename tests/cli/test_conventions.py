"""Conventions people expect: global options anywhere on the line, amounts with their units."""

from __future__ import annotations

import csv
import io
import json

from cli.output import amounts
from tests.support.cli import Cli


def test_global_options_are_accepted_after_the_subcommand(cli: Cli) -> None:
    before = cli("--output", "json", "projects", "list", user="amina")
    after = cli("projects", "list", "--output", "json", user="amina")
    assert after.exit_code == 0, after.output
    assert json.loads(after.stdout) == json.loads(before.stdout)
    between = cli("projects", "-o", "json", "list", user="amina")
    assert between.exit_code == 0 and "items" in json.loads(between.stdout)
    spreadsheet = cli("regions", "-o", "csv", user="amina")
    assert {row["ID"] for row in csv.DictReader(io.StringIO(spreadsheet.stdout))} >= {"rabat-1", "casablanca-1"}
    api = cli("regions", "--api", cli.served.url, "--output", "json", user="amina", SAHAB_API_URL="http://127.0.0.1:9")
    assert api.exit_code == 0, api.output
    assert cli("projects", "list", "--output", "yaml", user="amina").exit_code == 2


def test_amounts_carry_their_unit() -> None:
    assert amounts({"vcpus": 2, "ram_mib": 8192, "volume_gib": 50}) == "vcpus=2 ram=8GiB volume=50GiB"
    assert amounts({"ram_mib": 64}) == "ram=64MiB"  # a measured usage, not a whole GiB
    assert amounts({"ram_mib": 1536, "instances": 1}, ("ram_mib", "instances")) == "ram=1536MiB instances=1"
    assert amounts({}) == "" and amounts(None) == ""
