"""``fizz-node``: argument parsing and dispatch.

Exit codes: 0 success, 1 the command ran but the answer is "no" (for ``check``: the machine
does not meet the minimums), 2 usage or configuration errors (bad arguments, unknown profile,
bad settings file), 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .. import __version__
from ..core.errors import UserFacingError
from . import commands

__all__ = ["main", "build_parser"]

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fizz-node",
        description="Fizz Node: lend this machine's idle compute to the network and earn SPON.",
    )
    parser.add_argument("--version", action="version", version=f"fizz-node {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="also print log messages to the terminal"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = sub.add_parser(
        "check",
        help="check whether this machine meets the network's minimums",
        description="Probe CPU, memory, storage, GPUs, OS and container engine, and judge them "
        "against a requirement profile. Exit 0 when the minimums are met, 1 when not.",
    )
    check.add_argument(
        "--profile",
        metavar="NAME",
        help="requirement profile (default: the one your settings' network uses); "
        "shipped: devnet, spheron-fizz",
    )
    check.add_argument("--json", action="store_true", help="print JSON instead of a table")
    check.set_defaults(handler=commands.check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``fizz-node`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(handler(args))
    except UserFacingError as error:
        print(f"fizz-node: {error.message}", file=sys.stderr)
        if error.remedy:
            print(f"  {error.remedy}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``fizz-node check --json | head``): stop quietly, and keep
        # Python from complaining again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
