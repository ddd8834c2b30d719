"""``fizz-node``: argument parsing and dispatch.

Exit codes: 0 success, 1 the command ran but the answer is "no" (for ``check``: the machine
does not meet the minimums), 2 usage or configuration errors (bad arguments, unknown profile,
bad settings file), 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import sys
from collections.abc import Sequence

from .. import __version__
from ..core import paths
from ..core.config import SettingsStore
from ..core.errors import SettingsError, UserFacingError
from ..core.logs import LOG_FILE_NAME, configure_logging
from . import (
    chain_commands,
    commands,
    limits_commands,
    pricing_commands,
    run_command,
    version_command,
    wallet_commands,
)

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
    wallet_commands.add_parsers(sub)
    chain_commands.add_parsers(sub)
    pricing_commands.add_parsers(sub)
    limits_commands.add_parsers(sub)
    run_command.add_parsers(sub)
    version_command.add_parsers(sub)
    _add_plugins(sub)
    return parser


PLUGIN_GROUP = "fizz_node.plugins"
"""Entry-point group of optional command groups. The developer tools (``fizz-node devnet``)
plug in here, so the product never imports them and a bundle without them simply lacks the
command."""


def _add_plugins(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for entry in importlib.metadata.entry_points(group=PLUGIN_GROUP):
        try:
            add_parsers = entry.load()
        except ImportError as error:  # a plugin whose dependencies are missing: skip it
            print(f"fizz-node: the {entry.name} commands are unavailable: {error}", file=sys.stderr)
            continue
        add_parsers(sub)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``fizz-node`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        args.redactor = _configure_logging(args.verbose)
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
    except Exception as error:  # a bug: say so briefly, keep the traceback in the log
        logging.getLogger("fizz_app.cli").exception("command failed unexpectedly")
        print(
            f"fizz-node: unexpected error ({type(error).__name__}). Details are in "
            f"{paths.log_dir() / LOG_FILE_NAME}; please include that file in a bug report.",
            file=sys.stderr,
        )
        return 1


def _configure_logging(verbose: bool) -> object:
    # The log level comes from the settings; a bad settings file still gets logging (at INFO)
    # so that the command can report the problem itself.
    try:
        level = SettingsStore(paths.settings_path()).load().log_level
    except SettingsError:
        level = "INFO"
    return configure_logging(paths.log_dir(), level, console=verbose)


if __name__ == "__main__":
    sys.exit(main())
