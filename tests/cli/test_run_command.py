"""``fizz-node run``: the headless node in a real process, stopped by a real signal; the lines it
prints for the chain's RPC endpoint."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from fizz_app.cli.run_command import _Printer
from fizz_app.core.events import ChainChanged

SCRIPT = Path(sys.executable).with_name("fizz-node")


def _start(home: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "FIZZ_HOME": str(home)}
    env.pop("FIZZ_WALLET_PASSPHRASE", None)
    return subprocess.Popen(
        [str(SCRIPT), "run", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _read_until(process: subprocess.Popen[str], needle: str, timeout: float = 60) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if needle in line:
            return lines
    process.kill()
    raise AssertionError(f"{needle!r} never printed; got {lines}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_run_reports_what_blocks_it_and_drains_on_a_signal(
    tmp_path: Path, signum: signal.Signals
) -> None:
    process = _start(tmp_path)
    try:
        lines = _read_until(process, "no wallet yet")
        assert lines[0].endswith(f"on devnet; data in {tmp_path}")
        assert any("error" in line and "fizz-node wallet create" in line for line in lines)
        process.send_signal(signum)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert out.rstrip().endswith("stopped cleanly")
    # The user's choice is kept: the next start goes online again by itself.
    state = json.loads((tmp_path / "node-state.json").read_text())
    assert state["state"] == "online"


def test_run_json_prints_one_event_per_line(tmp_path: Path) -> None:
    process = _start(tmp_path, "--json", "--paused")
    try:
        lines = _read_until(process, "no wallet yet")
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    events = [json.loads(line) for line in lines]
    assert events[0]["type"] == "snapshot"
    assert events[0]["snapshot"]["data_dir"] == str(tmp_path)
    assert {"desired_state_changed", "status_changed"} <= {event["type"] for event in events}
    assert json.loads((tmp_path / "node-state.json").read_text())["state"] == "paused"


# ---- The chain's RPC endpoint, as the run command prints it --------------------------------------

RPC = "http://127.0.0.1:8545"


def chain_event(seq: int, at: float, **chain: Any) -> ChainChanged:
    fields = {
        "reachable": True,
        "checked_at": at,
        "unreachable_since": None,
        "error": None,
        "rpc": RPC,
        "next_check_at": at + 60,
    }
    return ChainChanged(seq=seq, at=at, chain={**fields, **chain})


def chain_story() -> list[ChainChanged]:
    """The events of a node whose chain stops answering for 95 s, with a change of reason."""
    down_at = time.mktime((2026, 5, 4, 13, 2, 3, 0, 0, -1))
    refused = f"Cannot reach the Local devnet network at {RPC}. Check your internet connection."
    silent = f"The Local devnet RPC endpoint {RPC} did not answer within 15 s. Check it."
    return [
        chain_event(1, down_at - 60),  # the first check answered
        chain_event(
            2, down_at + 1, reachable=False, unreachable_since=down_at, error=refused,
            checked_at=down_at, next_check_at=down_at + 6,
        ),
        chain_event(
            3, down_at + 40, reachable=False, unreachable_since=down_at, error=silent,
            checked_at=down_at + 25, next_check_at=down_at + 60,
        ),
        chain_event(4, down_at + 95, checked_at=down_at + 94.5),
        ChainChanged(seq=5, at=down_at + 200, chain=None),  # offline
    ]  # fmt: skip


def test_run_prints_a_line_when_the_chain_stops_answering_and_one_when_it_is_back() -> None:
    out = io.StringIO()
    printer = _Printer(out, as_json=False)
    for event in chain_story():
        printer.event(event)
    lines = [line.split("  ", 1)[1] for line in out.getvalue().splitlines()]
    assert lines == [
        f"Chain RPC {RPC} unreachable since 13:02:03: Cannot reach the Local devnet network at "
        f"{RPC}. Check your internet connection; retrying in 5 s — leases keep running, "
        "earnings update when it is back",
        f"Chain RPC {RPC} unreachable since 13:02:03: The Local devnet RPC endpoint {RPC} did "
        "not answer within 15 s. Check it; retrying in 20 s — leases keep running, earnings "
        "update when it is back",
        f"Chain RPC {RPC} is back after 1 min 35 s; earnings are reconciled with the chain",
    ]


def test_run_json_prints_every_chain_event_as_it_is() -> None:
    out = io.StringIO()
    printer = _Printer(out, as_json=True)
    story = chain_story()
    for event in story:
        printer.event(event)
    printed = [json.loads(line) for line in out.getvalue().splitlines()]
    assert printed == [event.to_dict() for event in story]
    assert printed[1]["type"] == "chain_changed" and printed[1]["chain"]["reachable"] is False


def earnings_event(seq: int, at: float, leases: int, *transfers: dict[str, Any]) -> Any:
    from fizz_app.core.events import EarningsChanged

    lifetime = {
        "uSPON": {
            "decimals": 6,
            "lease_earnings": str(leases),
            "rewards": "0",
            "claimed": "0",
            "withdrawn": "0",
        }
    }
    return EarningsChanged(
        seq=seq, at=at, earnings={"lifetime": lifetime, "transfers": list(transfers)}
    )


def test_run_prints_earnings_totals_at_most_every_half_minute_and_each_settlement() -> None:
    from fizz_app.cli.run_command import EARNINGS_LINE_EVERY
    from fizz_app.core.events import StatusChanged
    from fizz_app.core.state import NodeStatus

    start = 1_780_000_000.0
    tx_hash = "0x" + "ef" * 32
    withdrawal = {"kind": "withdrawal", "tx_hash": tx_hash, "token": "uSPON", "decimals": 6}
    pending = {**withdrawal, "amount": "1500000", "status": "pending"}
    confirmed = {**pending, "status": "confirmed"}
    out = io.StringIO()
    printer = _Printer(out, as_json=False)
    story = [
        earnings_event(1, start, 250_000),  # printed: the first totals
        earnings_event(2, start + 5, 500_000),  # held: too soon
        earnings_event(3, start + 10, 1_500_000, pending),  # the withdrawal; totals held
        StatusChanged(seq=4, at=start + 20, status=NodeStatus.ONLINE, reason="online"),
        StatusChanged(  # the held totals come out with the first event after the pause
            seq=5, at=start + EARNINGS_LINE_EVERY + 1, status=NodeStatus.ONLINE, reason="online"
        ),
        earnings_event(6, start + 40, 1_500_000, confirmed),  # settled; totals unchanged
    ]
    for event in story:
        printer.event(event)
    lines = [line.split("  ", 1)[1] for line in out.getvalue().splitlines()]
    assert lines == [
        "earnings: 0.25 uSPON earned from leases",
        f"Withdrawal of 1.5 uSPON (transaction {tx_hash}) is pending: the node keeps checking "
        "the chain",
        "online     online",
        "earnings: 1.5 uSPON earned from leases",
        "online     online",
        f"Withdrawal of 1.5 uSPON (transaction {tx_hash}) confirmed on chain",
    ]
