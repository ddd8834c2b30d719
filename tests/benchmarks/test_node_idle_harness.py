"""The node idle benchmark (benchmarks/node_idle.py, ``fizz-node bench node``) runs end to end
(anvil, the gateway and ``fizz-node run`` in processes of their own), stops the node cleanly and
leaves nothing running, also when it fails or is interrupted. It checks the harness, never the
footprint: no figure is compared with a target here.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from benchmarks.node_idle import RUN_ENV, TEMP_PREFIX
from devnet.chain.anvil import anvil_binary

ROOT = Path(__file__).resolve().parents[2]
FIZZ_NODE = Path(sys.executable).with_name("fizz-node")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not anvil_binary().is_file(),
        reason=f"anvil is not installed at {anvil_binary()} (tools/npm: run `make test` or "
        "scripts/bootstrap.sh), so no local chain can run",
    ),
]


def _benchmark_processes() -> dict[int, str]:
    """Live processes that belong to a run of this benchmark: anything whose command line or
    environment names its temporary folder (every process it starts, anvil included, has it
    in RUN_ENV). Other sessions' anvils and nodes are not counted."""
    found: dict[int, str] = {}
    for process in psutil.process_iter(["name", "cmdline", "status"]):
        if process.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        command = " ".join(process.info["cmdline"] or [])
        environment = ""
        with contextlib.suppress(psutil.Error):
            variables = process.environ()
            environment = variables.get(RUN_ENV, "") + variables.get("FIZZ_HOME", "")
        if TEMP_PREFIX in command or TEMP_PREFIX in environment:
            found[process.pid] = command
    return found


@pytest.fixture
def no_leftover_processes() -> Any:
    """Fails the test if a benchmark process started during it is still running at the end."""
    before = set(_benchmark_processes())
    yield
    deadline = time.monotonic() + 10  # a process may still be on its way out
    left = {pid: what for pid, what in _benchmark_processes().items() if pid not in before}
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = {pid: what for pid, what in _benchmark_processes().items() if pid not in before}
    assert not left, f"processes left behind: {left}"


def _number(value: object) -> float:
    assert isinstance(value, int | float) and not isinstance(value, bool), value
    return float(value)


def _assert_window(row: dict[str, Any]) -> None:
    for key in ("rss_mib_start", "rss_mib_max", "rss_mib_end", "rss_mb_max", "window_s"):
        assert _number(row[key]) > 0, (key, row)
    assert row["rss_mib_start"] <= row["rss_mib_max"] and row["rss_mib_end"] <= row["rss_mib_max"]
    # Linux reads each process's CPU-time clock (ns); elsewhere CPU comes in 10 ms ticks. Either
    # way a settled idle node may use no CPU at all in a few seconds (it rounds every 5 s).
    precise = row["cpu_clock"] == "process CPU-time clock (ns)"
    assert precise or not sys.platform.startswith("linux"), row["cpu_clock"]
    for key in ("cpu_seconds", "cpu_percent", "cpu_percent_busiest_interval"):
        assert _number(row[key]) >= 0, (key, row)
    assert 0 <= row["cpu_percent_median_interval"] <= row["cpu_percent_busiest_interval"]
    # window_s is rounded for display: compare within 1 %, not to the last digit.
    expected = 100 * row["cpu_seconds"] / row["window_s"]
    assert row["cpu_percent"] == pytest.approx(expected, rel=0.01, abs=0.01)
    assert len(row["cpu_ms_by_interval"]) == row["samples"] - 1
    assert sum(row["cpu_ms_by_interval"]) == pytest.approx(1000 * row["cpu_seconds"], abs=1)
    assert row["samples"] >= 3 and row["threads_max"] >= 1 and row["children_max"] >= 0


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "FIZZ_HOME": str(home)}


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_bench_node_reports_every_figure_and_stops_everything(
    tmp_path: Path, no_leftover_processes: None
) -> None:
    result = subprocess.run(
        [str(FIZZ_NODE), "bench", "node", "--seconds", "3", "--settle", "1", "--json"],
        env=_env(tmp_path),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout)

    setup = figures["setup"]
    assert setup["gateway_url"].startswith("wss://127.0.0.1:")
    assert setup["fizz_id"] >= 1 and setup["address"].startswith("0x")
    assert set(setup["seconds"]) == {
        "chain_s", "gateway_s", "wallet_register_s", "node_online_s", "speed_test_s"
    }  # fmt: skip
    # A step may round to 0.0 s (the speed test can be saved before the node reports online).
    assert all(_number(seconds) >= 0 for seconds in setup["seconds"].values())
    assert _number(setup["seconds"]["chain_s"]) > 0
    assert setup["speed_test_saved"] is True  # the window began after the one-off speed test

    node, gateway = figures["node"], figures["gateway"]
    _assert_window(node)
    _assert_window(gateway)
    assert _number(node["rss_mib_when_online"]) > 0
    memory = node["memory"]
    if sys.platform.startswith("linux"):
        assert _number(memory["uss_mib"]) > 0 and _number(memory["pss_mib"]) > 0
        assert sum(memory["rss_by_mapping_mib"].values()) > 0
        assert "pydantic_core" in memory["native_extension_packages"]

    targets = figures["targets"]
    assert targets["rss_mb"] == 120 and targets["cpu_percent"] == 0.5
    assert targets["rss_max_ratio_to_target"] == round(node["rss_mb_max"] / 120, 3)
    assert targets["cpu_ratio_to_target"] == round(node["cpu_percent"] / 0.5, 3)

    # The node drained on SIGTERM by itself and exited 0; the gateway stopped cleanly too.
    assert figures["node_exit"]["exit_code"] == 0
    assert figures["node_exit"]["stopped_cleanly"] is True
    assert figures["node_exit"]["signals"] == ["SIGTERM"]
    assert figures["gateway_exit_code"] == 0

    pids = figures["pids"]
    assert set(pids) == {"anvil", "gateway", "node"}
    assert all(_gone(pid) for pid in pids.values()), pids
    assert not Path(figures["home"]).parent.exists(), "the temporary folder outlived the run"
    # The caller's FIZZ_HOME gets the command's own log file, and nothing of the node's.
    assert {path.name for path in tmp_path.iterdir()} <= {"logs"}


def test_a_failed_start_stops_the_chain_and_the_gateway(
    tmp_path: Path, no_leftover_processes: None
) -> None:
    # No gateway can be ready in a millisecond: the set-up fails after anvil and the gateway
    # have started, and both must be stopped.
    result = subprocess.run(
        [sys.executable, "benchmarks/node_idle.py", "--start-timeout", "0.001"],
        env=_env(tmp_path),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr[-3000:]
    assert "node idle benchmark failed: gateway was not ready" in result.stderr
    assert result.stdout == ""


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_while_sampling_stops_the_node_cleanly_and_everything_else(
    tmp_path: Path, no_leftover_processes: None
) -> None:
    process = subprocess.Popen(
        [sys.executable, "benchmarks/node_idle.py", "--seconds", "120", "--settle", "0"],
        env=_env(tmp_path),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As in a terminal: a suite started in the background (`cmd &` without job control)
        # passes SIGINT on ignored, and Python then never raises KeyboardInterrupt.
        preexec_fn=_default_sigint,
    )
    try:
        assert process.stderr is not None
        lines = []
        for line in process.stderr:
            lines.append(line)
            if "then sampling" in line:
                break
        else:
            pytest.fail(f"the window never began: {''.join(lines)}")
        children = [child.pid for child in psutil.Process(process.pid).children()]
        assert len(children) == 3  # anvil, the gateway and the node
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err
    assert "interrupted; everything it started is stopped" in err
    assert "node stopped (exit 0)" in err and "gateway stopped (exit 0)" in err
    assert out == ""
    assert all(_gone(pid) for pid in children)
