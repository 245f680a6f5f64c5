"""Rendering: rich tables for people, the API's JSON unchanged for scripts."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from cli.i18n import _, moment

TABLE, JSON, CSV = "table", "json", "csv"


def console(stderr: bool = False) -> Console:
    """Made per call so it writes to the current sys.stdout/sys.stderr (tests replace them)."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 200
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)


def echo(message: str = "", *, stderr: bool = False) -> None:
    """Plain text, no markup interpretation."""
    console(stderr).print(message, markup=False)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> Table:
    """Headers and title are msgids (marked N_ where written), shown in the user's language."""
    result = Table(title=_(title) if title else title, show_lines=False, header_style="bold")
    for column in columns:
        result.add_column(_(column), overflow="fold")
    for row in rows:
        result.add_row(*["" if cell is None else str(cell) for cell in row])
    return result


def render(mode: str, data: Any, build: Callable[[Any], Any]) -> None:
    """JSON mode prints the API's data; table mode prints what `build` makes of it (a Table or text)."""
    if mode == JSON:
        print_json(data)
        return
    rendered = build(data)
    if mode == CSV and isinstance(rendered, Table):
        write_csv(rendered)
        return
    if isinstance(rendered, str):
        echo(rendered)
    else:
        console().print(rendered)


def when(value: str | None) -> str:
    """An ISO time from the API as the language writes it (English: 'YYYY-MM-DD HH:MM:SS')."""
    if not value:
        return ""
    try:
        return moment(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return value


def amounts(values: dict[str, int] | None, keys: Sequence[str] | None = None) -> str:
    """`vcpus=2 ram=8GiB volume=50GiB`: every amount with its unit (RAM in GiB when whole, else MiB)."""
    if not values:
        return ""
    shown = keys or list(values)
    return " ".join(_amount(key, values[key]) for key in shown if key in values)


def _amount(key: str, value: Any) -> str:
    if key.endswith("_mib"):
        name = key.removesuffix("_mib")
        whole = isinstance(value, int) and value % 1024 == 0 and value != 0
        return f"{name}={value // 1024}GiB" if whole else f"{name}={value}MiB"
    if key.endswith("_gib"):
        return f"{key.removesuffix('_gib')}={value}GiB"
    return f"{key}={value}"


def details(pairs: Iterable[tuple[str, Any]]) -> Table:
    """A two-column key/value view of one object; the keys are msgids (marked N_ where written)."""
    result = Table(show_header=False, box=None, pad_edge=False)
    result.add_column("field", style="bold")
    result.add_column("value", overflow="fold")
    for key, value in pairs:
        if isinstance(value, (dict, list)):
            value = json.dumps(value, ensure_ascii=False)
        result.add_row(_(key), "" if value is None else str(value))
    return result


def write_csv(rendered: Table) -> None:
    """The table's header and cells as CSV (RFC 4180) on stdout."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow([str(column.header) for column in rendered.columns])
    cells = [list(column.cells) for column in rendered.columns]
    for row in zip(*cells, strict=True):
        writer.writerow([str(cell) for cell in row])
