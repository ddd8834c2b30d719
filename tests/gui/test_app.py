"""run_app as a user starts it: a fresh process, offscreen, quitting by itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

pytestmark = pytest.mark.gui

REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_APP = "import sys; from fizz_app.gui.app import run_app; sys.exit(run_app(sys.argv[1:]))"


def _run_app(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "FIZZ_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-c", RUN_APP, *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_quit_after_exits_zero(tmp_path: Path) -> None:
    result = _run_app(tmp_path, "--quit-after", "0.5")
    assert result.returncode == 0, result.stderr
    log = (tmp_path / "logs" / "fizz-node.log").read_text(encoding="utf-8")
    assert "desktop app starting" in log
    assert "exiting with code 0" in log
    assert "Traceback" not in log


def test_bad_argument_is_a_usage_error(tmp_path: Path) -> None:
    result = _run_app(tmp_path, "--no-such-option")
    assert result.returncode == 2
    assert "usage:" in result.stderr


def test_a_second_launch_raises_the_first_and_exits_zero(tmp_path: Path) -> None:
    first = _launch(tmp_path, "--quit-after", "20")
    log_file = tmp_path / "logs" / "fizz-node.log"
    try:
        deadline = time.monotonic() + 20
        _wait_for_log(first, log_file, "listening for later launches", 20)

        started = time.monotonic()
        second = _run_app(tmp_path, "--quit-after", "20")
        assert second.returncode == 0, second.stderr
        assert time.monotonic() - started < 15  # it did not run its own 20 s
        while "another launch asked to show the window" not in _read(log_file):
            assert time.monotonic() < deadline + 10, "the first app was not asked to raise"
            time.sleep(0.1)
        assert "already running" in _read(log_file)
        assert first.poll() is None  # the first keeps running
    finally:
        first.terminate()
        first.wait(10)
        # Killed, it leaves its socket file behind (the next launch would claim it).
        from fizz_app.gui.single_instance import instance_key

        (Path(tempfile.gettempdir()) / instance_key(tmp_path)).unlink(missing_ok=True)


def _launch(home: Path, *args: str) -> subprocess.Popen[str]:
    """Start the app offscreen in the background with its data in ``home``."""
    return subprocess.Popen(
        [sys.executable, "-c", RUN_APP, *args],
        cwd=REPO_ROOT,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "FIZZ_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_log(app: subprocess.Popen[str], log_file: Path, text: str, timeout: float) -> None:
    """Wait until the app's log says ``text``; fail if it exits or ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while text not in _read(log_file):
        assert app.poll() is None, app.stderr.read() if app.stderr else ""
        assert time.monotonic() < deadline, f"the app's log never said {text!r}"
        time.sleep(0.1)


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_quit_cleanly(tmp_path: Path, signum: int) -> None:
    """A logout (SIGTERM) or Ctrl-C quits like the Quit menu: engine stopped, exit code 0,
    the single-instance socket removed."""
    from fizz_app.gui.single_instance import instance_key

    app = _launch(tmp_path, "--quit-after", "120")
    log_file = tmp_path / "logs" / "fizz-node.log"
    try:
        _wait_for_log(app, log_file, "first window shown", 30)
        time.sleep(0.5)  # idle: nothing but the event loop runs when the signal comes
        sent = time.monotonic()
        app.send_signal(signum)
        assert app.wait(30) == 0, app.stderr.read() if app.stderr else ""
        assert time.monotonic() - sent < 25  # it did not wait for --quit-after
    finally:
        if app.poll() is None:
            app.kill()
            app.wait(10)
    log = _read(log_file)
    assert "exiting with code 0" in log
    assert "Traceback" not in log
    assert not (Path(tempfile.gettempdir()) / instance_key(tmp_path)).exists()
