"""run_app as a user starts it: a fresh process, offscreen, quitting by itself."""

from __future__ import annotations

import os
import subprocess
import sys
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
