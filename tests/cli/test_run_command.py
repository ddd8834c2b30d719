"""``fizz-node run``: the headless node in a real process, stopped by a real signal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

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
