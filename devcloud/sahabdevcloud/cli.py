"""sahab-devcloud: a real, loopback-only OpenStack (Keystone, Placement, Glance, Nova with the fake virt
driver, Cinder with the fake volume driver, Neutron ML2 without agents, Swift) from Debian 12's packages,
for Sahab's tests. See devcloud/README.md.

  sahab-devcloud up              start what is not running, wait until ready (the bash entry point installs
                                 the packages first)
  sahab-devcloud down [--purge]  stop what it started; --purge also deletes the state dir
  sahab-devcloud status          each service, its pid state and ports; exit 1 unless all run
  sahab-devcloud env             print exports (eval "$(sahab-devcloud env)")

Everything it writes lives under
  ${SAHAB_DEVCLOUD_STATE:-${XDG_STATE_HOME:-$HOME/.local/state}/sahab/devcloud}
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from .lifecycle import Devcloud
from .output import Failed
from .services import Paths, default_state

HERE = Path(__file__).resolve().parent.parent  # devcloud/


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # the usage line and exit code 2 of the bash version
        sys.stderr.write(f"usage: {HERE}/sahab-devcloud up | down [--purge] | status | env\n")
        sys.exit(2)


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="sahab-devcloud", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands.add_parser("up", help="start what is not running and wait until ready")
    down = commands.add_parser("down", help="stop what it started")
    down.add_argument("--purge", action="store_true", help="also delete the state directory")
    commands.add_parser("status", help="each service, its pid state and ports")
    commands.add_parser("env", help="print exports for eval")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    devcloud = Devcloud(Paths(default_state(), HERE))
    try:
        if args.command == "up":
            return devcloud.up()
        if args.command == "down":
            return devcloud.down(args.purge)
        if args.command == "status":
            return devcloud.status()
        return devcloud.env()
    except Failed as failed:
        sys.stdout.flush()
        failed.report(sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
