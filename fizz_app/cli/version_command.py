"""``fizz-node version [--check] [--json] [--feed URL]``: this build's version, and whether a
newer release is out.

``--check`` reads the release feed (:mod:`fizz_app.core.updates`) and says "up to date" or where
the newer version is; nothing is ever downloaded or installed. Exit 0 when the check worked
(whatever it found), 1 when the feed could not be fetched or read (the reason on standard
error, or as ``error`` in the JSON).
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from .output import emit

# fizz_app.core.updates (urllib, ssl) is imported inside the command: `fizz-node --help` and the
# other commands do not pay for it.

__all__ = ["add_parsers", "version"]


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "version",
        help="this build's version; --check asks whether a newer release is out",
        description="Print the version. With --check, compare it with the newest release named "
        "in the project's release feed and say where to get a newer one; nothing is downloaded "
        "or installed.",
    )
    parser.add_argument(
        "--check", action="store_true", help="ask the release feed for the newest version"
    )
    parser.add_argument(
        "--feed",
        metavar="URL",
        help="the release feed to ask (default: $FIZZ_UPDATE_FEED, else the project's feed)",
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS", help="network timeout (10)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=version)


def version(args: argparse.Namespace) -> int:
    if not args.check:
        emit(args.json, {"version": __version__}, f"fizz-node {__version__}")
        return 0
    from ..core.updates import UpdateCheckError, check_for_update

    try:
        result = check_for_update(args.feed, timeout=args.timeout)
    except UpdateCheckError as error:
        if args.json:
            emit(True, {"version": __version__, "error": error.message}, "")
        print(f"fizz-node: {error.message}", file=sys.stderr)
        if error.remedy:
            print(f"  {error.remedy}", file=sys.stderr)
        return 1
    text = result.message
    if result.update_available and result.notes:
        text += f"\n{result.notes}"
    emit(args.json, result.as_dict(), text)
    return 0
