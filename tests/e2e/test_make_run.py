"""``make run`` as a newcomer meets it (``python -m devnet.demo``, what the target runs after
bootstrapping), on a fresh data folder: the whole devnet starts, the node is set up (wallet,
faucet, registration), the demo tenant's leases run on it and it earns uSPON on chain; then
Ctrl-C, or quitting the desktop app, stops everything it started.

Two ways: with no display (``fizz-node run``, its status lines printed) and on a virtual screen
(Xvfb) where the desktop app opens, goes online by itself and earns.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from devnet.chain.anvil import anvil_binary
from devnet.supervise import Child, cli_json, fizz_node_command, free_port, spawn, wait_for
from tests.e2e.processes import ours
from tests.virtual_screen import xvfb_display

pytestmark = pytest.mark.timeout(600)


def _earned(env: dict[str, str]) -> int:
    """The node's lease earnings in EscrowProtocol (0 before registration or the first pay)."""
    try:
        status = cli_json(fizz_node_command(), env, "status", "--network", "devnet", timeout=60)
    except Exception:  # the chain is not up yet, or the node not registered yet
        return 0
    return sum(int(item["earned"]["raw"]) for item in status.get("earnings") or [])


@pytest.fixture
def demo_env(tmp_path: Path) -> Iterator[tuple[dict[str, str], Path, list[str]]]:
    if shutil.which("podman") is None or not anvil_binary().is_file():
        pytest.skip("podman and anvil are needed (make test installs them)")
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "FIZZ_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "DOCKER_HOST", "FIZZ_WALLET_PASSPHRASE"):
        env.pop(name, None)
    public = free_port()
    # Free ports rather than the defaults: other devnets may run on this machine.
    up_args = (f"--port {free_port()} --gateway-port {free_port()} --api-port {free_port()} "
               f"--public-ports {public}-{public}")  # fmt: skip
    argv = [sys.executable, "-m", "devnet.demo", "--era-seconds", "10", "--up-args", up_args]
    try:
        yield env, home, argv
    finally:
        for process in ours(home):  # never leave anything behind, even on failure
            process.kill()


def _until_earning(demo: Child, env: dict[str, str], timeout: float) -> float:
    """Wait until the node has lease earnings on chain; the seconds it took."""
    started = time.monotonic()
    while _earned(env) == 0:
        assert demo.running, demo.output(20_000)
        assert time.monotonic() - started < timeout, demo.output(20_000)
        time.sleep(2)
    return time.monotonic() - started


def test_make_run_without_a_display_earns_and_stops_on_ctrl_c(
    demo_env: tuple[dict[str, str], Path, list[str]], tmp_path: Path
) -> None:
    env, home, argv = demo_env
    started = time.monotonic()
    demo = spawn("demo", [*argv, "--headless"], env, tmp_path)
    try:
        wait_for(demo, r"registered on chain as Fizz node \d+", 240)
        wait_for(demo, r"\[node\] .*online", 120)
        wait_for(demo, r"-> 200, page as expected", 180)
        took = _until_earning(demo, env, 180)
        print(f"make run (headless): earning {time.monotonic() - started:.0f} s after it started "
              f"({took:.0f} s after the first page was served)")  # fmt: skip
        # The node's own status lines are shown, prefixed with its name, its earnings too.
        assert re.search(r"\[node\] .*lease", demo.output(1_000_000)), demo.output()
        wait_for(demo, r"\[node\] .*earnings: (?!0 )[\d.,]+ uSPON earned from leases", 90)
        demo.process.send_signal(signal.SIGINT)  # Ctrl-C
        assert demo.process.wait(120) == 0, demo.output()
    finally:
        demo.stop(grace_s=120)
    assert "everything stopped" in demo.output()
    deadline = time.monotonic() + 20
    while ours(home):
        assert time.monotonic() < deadline, [p.cmdline() for p in ours(home)]
        time.sleep(0.5)


def test_make_run_with_a_display_opens_the_app_which_earns_and_quitting_it_stops_all(
    demo_env: tuple[dict[str, str], Path, list[str]], tmp_path: Path
) -> None:
    env, home, argv = demo_env
    if shutil.which("dbus-run-session") is None:
        pytest.skip("dbus is needed for the desktop path (make test installs it)")
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is needed for the desktop path (make test installs it)")
    with xvfb_display() as display:
        # A desktop session has a session bus; without one, D-Bus would start one tied to
        # the X display that outlives the test.
        session = ["dbus-run-session", "--"]
        demo = spawn("demo", [*session, *argv], {**env, "DISPLAY": display}, tmp_path)
        try:
            wait_for(demo, r"the desktop app is open on the devnet", 300)
            _until_earning(demo, env, 300)
            app = next(
                p
                for p in psutil.Process(demo.pid).children(recursive=True)
                if any("fizz-app" in part for part in p.cmdline()[:2])
            )
            app.send_signal(signal.SIGTERM)  # as the desktop does at logout: the app quits
            assert demo.process.wait(120) == 0, demo.output()
        finally:
            demo.stop(grace_s=120)
    said = demo.output(1_000_000)
    assert "everything stopped" in said
    assert "app exited" not in said  # quitting the app is how the demo ends, not a failure
    log = (home / "logs" / "fizz-node.log").read_text(encoding="utf-8")
    assert "exiting with code 0" in log
    deadline = time.monotonic() + 20
    while ours(home):
        assert time.monotonic() < deadline, [p.cmdline() for p in ours(home)]
        time.sleep(0.5)
