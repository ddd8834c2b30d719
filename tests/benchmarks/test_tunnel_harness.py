"""The tunnel benchmark harness (benchmarks/tunnel.py) works and cleans up after itself.

These check the harness, never the speed of anything: every figure must be a positive number,
the ratios must be computed from those figures, and no ``sshd``/``ssh`` process may survive a
run, a failed start or a cancelled one. SSH tests skip only where OpenSSH is not installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from benchmarks.tunnel import run_benchmarks
from benchmarks.tunnel_lib import (
    TUNNELS,
    Address,
    BenchOptions,
    TunnelStartError,
    TunnelUnderTest,
    compare,
)
from benchmarks.tunnel_lib.procs import live_pids
from benchmarks.tunnel_lib.ssh import INSTALL_HINT, TEMP_PREFIX, SshReverseTunnel, find_binaries

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "tunnel.py"
METRICS = (
    "single_stream_mib_per_s",
    "multi_stream_mib_per_s",
    "http_achieved_rps",
    "http_p50_ms",
    "http_p99_ms",
)
_MISSING = [name for name, path in find_binaries().items() if path is None]
needs_openssh = pytest.mark.skipif(
    bool(_MISSING),
    reason=f"{', '.join(_MISSING)} not installed, so no SSH tunnel can run ({INSTALL_HINT})",
)


def _ssh_processes() -> dict[int, str]:
    """Every ssh/sshd process, and any process whose command line names a harness folder."""
    found: dict[int, str] = {}
    for process in psutil.process_iter(["name", "cmdline", "status"]):
        name = process.info["name"] or ""
        command = " ".join(process.info["cmdline"] or [])
        if name in {"ssh", "sshd"} or TEMP_PREFIX in command:
            found[process.pid] = f"{name} [{process.info['status']}] {command}"
    return found


@pytest.fixture
def no_leftover_processes() -> Iterator[None]:
    """Fails the test if an ssh/sshd process started during it is still there at the end.

    A live one fails at once. A zombie (already dead) is allowed a few seconds: when sshd
    rejects a login, its pre-authentication child can be orphaned inside sshd, before the
    harness sees it, and it is then init's to reap, on init's schedule (about 1 s here).
    """
    before = set(_ssh_processes())
    yield
    left = {pid: what for pid, what in _ssh_processes().items() if pid not in before}
    assert not {pid: what for pid, what in left.items() if "[zombie]" not in what}, (
        f"live processes left behind: {left}"
    )
    deadline = time.monotonic() + 10
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = {pid: what for pid, what in _ssh_processes().items() if pid not in before}
    assert not left, f"processes left behind: {left}"
    assert not live_pids(), f"the harness still tracks live processes: {live_pids()}"


def _run_cli(*args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--json", "--quick", *args],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def _assert_figures(result: dict[str, Any], names: list[str]) -> None:
    assert list(result["tunnels"]) == names
    assert list(result["metrics"]) == names
    for name in names:
        for metric in METRICS:
            value = result["metrics"][name][metric]
            assert isinstance(value, int | float) and not isinstance(value, bool), (name, metric)
            assert value > 0, (name, metric, value)
        tunnel = result["tunnels"][name]
        for workload in ("single_stream", "multi_stream"):
            assert tunnel[workload]["runs_mib_per_s"], (name, workload)
            assert all(rate > 0 for rate in tunnel[workload]["runs_mib_per_s"])
            assert tunnel[workload]["mbit_per_s"] > 0
        http = tunnel["http"]
        assert http["errors"] == 0, (name, http)
        assert http["ok"] == http["requests"] == round(http["offered_rps"] * http["seconds"])
        assert 0 < http["p50_ms"] <= http["p99_ms"] <= http["max_ms"]
    machine = result["machine"]
    for key in ("cpu_model", "cpu_threads", "kernel", "python", "openssh", "os"):
        assert machine[key], key


@pytest.mark.slow
def test_cli_quick_direct_only_has_every_figure_and_no_ratios() -> None:
    result = _run_cli("--only", "direct")
    _assert_figures(result, ["direct"])
    assert result["ratios"] == {} and result["latency_overhead_ms"] == {}


@pytest.mark.slow
@needs_openssh
def test_cli_quick_direct_and_ssh(no_leftover_processes: None) -> None:
    result = _run_cli("--only", "direct,ssh")
    _assert_figures(result, ["direct", "ssh"])
    metrics = result["metrics"]
    assert set(result["ratios"]) == {"ssh"}  # direct is the baseline: compared with nothing
    for metric in METRICS:
        pair = result["ratios"]["ssh"][metric]
        assert set(pair) == {"ratio_vs_direct"}
        expected = metrics["ssh"][metric] / metrics["direct"][metric]
        assert pair["ratio_vs_direct"] == pytest.approx(expected, rel=1e-3, abs=1e-4)
    overhead = result["latency_overhead_ms"]["ssh"]
    for q in ("p50", "p99"):
        expected = metrics["ssh"][f"http_{q}_ms"] - metrics["direct"][f"http_{q}_ms"]
        assert overhead[f"{q}_vs_direct"] == pytest.approx(expected, abs=1e-3)
    details = result["tunnels"]["ssh"]["details"]
    assert details["openssh"].startswith("OpenSSH") and details["cipher"] != "?"


@pytest.mark.slow
def test_cli_quick_direct_and_fizz_end_to_end(no_leftover_processes: None) -> None:
    # The project's own tunnel, end to end: anvil, a node registered on chain, the reference
    # gateway and the node in their own processes, wss:// with the pinned certificate.
    result = _run_cli("--only", "direct,fizz")
    _assert_figures(result, ["direct", "fizz"])
    pair = result["ratios"]["fizz"]["single_stream_mib_per_s"]
    assert set(pair) == {"ratio_vs_direct"}
    details = result["tunnels"]["fizz"]["details"]
    assert details["gateway"].startswith("wss://127.0.0.1:")
    assert details["tls"] == "pinned self-signed"


def test_cli_rejects_unknown_tunnels() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--only", "direct,nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "nope" in result.stderr


def test_compare_uses_every_reference_below_the_tunnel() -> None:
    metrics = {
        "direct": dict.fromkeys(METRICS, 4.0),
        "ssh": dict.fromkeys(METRICS, 2.0),
        "fizz": dict.fromkeys(METRICS, 1.0),
    }
    ratios, overhead = compare(metrics)
    assert set(ratios) == {"ssh", "fizz"}
    assert ratios["ssh"]["http_p99_ms"] == {"ratio_vs_direct": 0.5}
    assert ratios["fizz"]["single_stream_mib_per_s"] == {
        "ratio_vs_direct": 0.25,
        "ratio_vs_ssh": 0.5,
    }
    assert overhead["fizz"] == {
        "p50_vs_direct": -3.0,
        "p99_vs_direct": -3.0,
        "p50_vs_ssh": -1.0,
        "p99_vs_ssh": -1.0,
    }


# ---- the extension point: a tunnel registered by name is run and compared ------------------


class _InProcessRelay:
    """A stand-in for the project's tunnel: an asyncio TCP relay to the target."""

    def __init__(self, target: Address) -> None:
        self._target = target
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(1 << 16):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        for task in (
            asyncio.create_task(self._pipe(reader, upstream_writer)),
            asyncio.create_task(self._pipe(upstream_reader, writer)),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def start(self) -> Address:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def details(self) -> dict[str, str]:
        return {"path": "in-process asyncio relay"}


async def test_a_registered_tunnel_is_run_and_compared_with_direct(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(TUNNELS, "relay", _InProcessRelay)
    assert isinstance(_InProcessRelay(("127.0.0.1", 1)), TunnelUnderTest)
    result = await run_benchmarks(["direct", "relay"], BenchOptions.quick())
    _assert_figures(result, ["direct", "relay"])
    assert result["tunnels"]["relay"]["details"] == {"path": "in-process asyncio relay"}
    pairs = result["ratios"]["relay"]["multi_stream_mib_per_s"]
    assert set(pairs) == {"ratio_vs_direct"}  # no ssh in this run, so no ratio_vs_ssh


# ---- the SSH tunnel's life cycle ------------------------------------------------------------


@contextlib.asynccontextmanager
async def _echo_server() -> AsyncIterator[Address]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(4096):
                writer.write(data)
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    try:
        host, port = server.sockets[0].getsockname()[:2]
        yield host, port
    finally:
        server.close()


@needs_openssh
async def test_ssh_tunnel_carries_data_and_stop_kills_every_process(
    no_leftover_processes: None,
) -> None:
    async with _echo_server() as target:
        tunnel = SshReverseTunnel(target)
        try:
            host, port = await tunnel.start()
            workdir = tunnel.workdir
            assert port != target[1] and workdir is not None and workdir.is_dir()
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"through the reverse tunnel")
            assert await reader.readexactly(26) == b"through the reverse tunnel"
            writer.close()
            started = live_pids()
            assert len(started) == 2  # sshd and ssh
            tree = {pid for root in started for pid in _tree(root)}
            assert len(tree) > 2  # sshd's per-connection child, in a session of its own
        finally:
            await tunnel.stop()
        await tunnel.stop()  # a second stop is harmless
    assert not [pid for pid in tree if _alive(pid)]
    assert not workdir.exists() and tunnel.workdir is None


@needs_openssh
async def test_ssh_tunnel_that_cannot_log_in_fails_and_leaves_nothing(
    no_leftover_processes: None,
) -> None:
    async with _echo_server() as target:
        tunnel = SshReverseTunnel(target, user="fizz-bench-no-such-user", attempts=1)
        with pytest.raises(TunnelStartError, match="ssh -R exited"):
            await tunnel.start()
    assert tunnel.workdir is None


@needs_openssh
async def test_ssh_tunnel_cancelled_while_starting_leaves_nothing(
    no_leftover_processes: None,
) -> None:
    async with _echo_server() as target:
        tunnel = SshReverseTunnel(target)
        task = asyncio.create_task(tunnel.start())
        while len(live_pids()) < 2 and not task.done():  # sshd and ssh are both running
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert tunnel.workdir is None


def _tree(pid: int) -> set[int]:
    try:
        return {pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))}
    except psutil.Error:
        return {pid}


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
