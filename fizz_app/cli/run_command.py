"""``fizz-node run``: the node, headless, in the foreground (a terminal, SSH, a service unit).

It goes online (and stays online after restarts: the desired state is saved), prints one
readable line per change — status, leases, earnings (at most one line of totals every
:data:`EARNINGS_LINE_EVERY` seconds), claims and withdrawals pending and settled, the chain's RPC
endpoint not answering and answering again — and on Ctrl-C or SIGTERM drains cleanly: it
stops taking leases, closes the running ones (telling the gateway), logs off and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from ..core import paths
from ..core.config import SettingsStore
from ..core.earnings_text import SETTLED_WORDS, TransferWatch, lifetime_summary, transfer_words
from .wallet_commands import open_wallets

if TYPE_CHECKING:
    from ..core.events import ChainChanged, EarningsChanged, Event
    from ..core.node import Node

__all__ = ["EARNINGS_LINE_EVERY", "add_parsers", "run_node"]

EARNINGS_LINE_EVERY = 30.0
"""Seconds between two lines of earnings totals: lease payments stream in every few seconds,
and a line for each would bury the rest. A change held back is printed with the next event
after that."""


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser(
        "run",
        help="run the node in the foreground until Ctrl-C (headless; works over SSH)",
        description="Go online and take leases, printing a line for each change. Ctrl-C or "
        "SIGTERM stops cleanly: running leases are closed and the gateway is told.",
    )
    run.add_argument(
        "--json", action="store_true", help="print one JSON event per line instead of text"
    )
    run.add_argument(
        "--paused",
        action="store_true",
        help="connect but take no new leases until resumed (from the app or a restart)",
    )
    run.set_defaults(handler=run_node)


def run_node(args: argparse.Namespace) -> int:
    """Run until interrupted; 0 after a clean drain."""
    return asyncio.run(_run(args, sys.stdout))


async def _run(args: argparse.Namespace, out: TextIO) -> int:
    from ..core.node import Node  # the engine pulls in the whole core: only this command pays

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, ValueError):  # Windows: no such handlers
            loop.add_signal_handler(signum, stop.set)
    node = Node(
        store=SettingsStore(paths.settings_path()),
        data_dir=paths.data_dir(),
        wallets=open_wallets(args),
    )
    printer = _Printer(out, as_json=args.json)
    async with node:
        async with node.subscribe() as events:
            printer.snapshot(node)
            if args.paused:
                await node.pause()
            else:
                await node.start()
            waiter = asyncio.create_task(stop.wait())
            try:
                while not stop.is_set():
                    getter = asyncio.create_task(events.get())
                    done, _ = await asyncio.wait(
                        {getter, waiter}, return_when=asyncio.FIRST_COMPLETED
                    )
                    if getter in done:
                        printer.event(getter.result())
                    else:
                        getter.cancel()
            finally:
                waiter.cancel()
            printer.line("stopping: closing running leases and logging off…")
    printer.line("stopped cleanly")
    return 0


class _Printer:
    def __init__(self, out: TextIO, *, as_json: bool) -> None:
        self._out = out
        self._json = as_json
        self._lease_states: dict[str, str] = {}
        self._chain_down_since: float | None = None
        """When the chain's RPC endpoint stopped answering, while it does not."""
        self._transfers = TransferWatch()
        self._totals_shown = ""
        self._totals_shown_at = -EARNINGS_LINE_EVERY
        self._totals_held: EarningsChanged | None = None
        """The newest earnings whose totals were not printed yet (too soon after the last)."""

    def _emit(self, text: str, data: dict[str, Any]) -> None:
        if self._json:
            self._out.write(json.dumps(data) + "\n")
        else:
            self._out.write(f"{time.strftime('%H:%M:%S')}  {text}\n")
        self._out.flush()

    def line(self, text: str) -> None:
        self._emit(text, {"type": "message", "text": text})

    def snapshot(self, node: Node) -> None:
        snapshot = node.snapshot()
        self._emit(
            f"fizz node {snapshot.version} on {snapshot.network}; data in {snapshot.data_dir}",
            {"type": "snapshot", "snapshot": snapshot.to_dict()},
        )

    def event(self, event: Event) -> None:
        from ..core.events import ChainChanged, EarningsChanged, LeaseChanged, StatusChanged

        if not isinstance(event, EarningsChanged):
            self._print_held_totals(event.at)
        if isinstance(event, ChainChanged) and not self._json:
            self._chain(event)
        elif isinstance(event, EarningsChanged) and not self._json:
            self._earnings(event)
        elif isinstance(event, StatusChanged):
            self._emit(f"{event.status.value:<10} {event.reason}", event.to_dict())
        elif isinstance(event, LeaseChanged):
            lease = event.lease
            # Usage updates re-send a lease in the same state: one line per state is enough.
            if self._lease_states.get(lease["lease_id"]) == lease["state"] and not self._json:
                return
            self._lease_states[lease["lease_id"]] = lease["state"]
            ports = ", ".join(f"{port}→127.0.0.1:{host}" for port, host in lease["ports"].items())
            detail = f" ({lease['reason']})" if lease.get("reason") else ""
            where = f" ports {ports}" if ports else ""
            self._emit(
                f"lease {lease['lease_id']} {lease['state']}: {lease['name']} "
                f"[{lease['runtime']}]{where}{detail}",
                event.to_dict(),
            )
        elif self._json:
            self._emit("", event.to_dict())

    def _earnings(self, event: EarningsChanged) -> None:
        """A line for each claim or withdrawal that became pending or was settled, and one of
        the lifetime totals when they changed (see :data:`EARNINGS_LINE_EVERY`)."""
        news = self._transfers.update(event.earnings)
        for transfer in news.settled:
            status = str(transfer.get("status"))
            words = SETTLED_WORDS.get(status, status)
            self._emit(f"{transfer_words(transfer)} {words}", event.to_dict())
        for transfer in news.pending:
            self._emit(
                f"{transfer_words(transfer)} is pending: the node keeps checking the chain",
                event.to_dict(),
            )
        self._totals_held = event
        self._print_held_totals(event.at)

    def _print_held_totals(self, now: float) -> None:
        """The held earnings' totals, once :data:`EARNINGS_LINE_EVERY` seconds have passed since
        the last such line (nothing when they did not change)."""
        held = self._totals_held
        if held is None or now - self._totals_shown_at < EARNINGS_LINE_EVERY:
            return
        self._totals_held = None
        summary = lifetime_summary(held.earnings)
        if summary != self._totals_shown:
            self._totals_shown, self._totals_shown_at = summary, now
            self._emit(f"earnings: {summary}", held.to_dict())

    def _chain(self, event: ChainChanged) -> None:
        """A line when the chain's RPC endpoint stops answering (or fails differently), and one
        when it answers again; nothing for the first check or for going offline."""
        chain = event.chain
        if chain is None:
            self._chain_down_since = None
            return
        rpc = chain.get("rpc") or "endpoint"
        if chain["reachable"]:
            since, self._chain_down_since = self._chain_down_since, None
            if since is not None:
                self._emit(
                    f"Chain RPC {rpc} is back after {_duration(event.at - since)}; earnings "
                    "are reconciled with the chain",
                    event.to_dict(),
                )
            return
        since = chain.get("unreachable_since") or event.at
        self._chain_down_since = since
        retry = max(0, round((chain.get("next_check_at") or event.at) - event.at))
        error = str(chain.get("error") or "no answer").rstrip(".")
        self._emit(
            f"Chain RPC {rpc} unreachable since {time.strftime('%H:%M:%S', time.localtime(since))}"
            f": {error}; retrying in {retry} s — leases keep running, earnings update when it "
            "is back",
            event.to_dict(),
        )


def _duration(seconds: float) -> str:
    """``"42 s"``, ``"3 min 5 s"``."""
    whole = max(0, round(seconds))
    minutes, rest = divmod(whole, 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"
