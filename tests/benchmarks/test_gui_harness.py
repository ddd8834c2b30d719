"""The GUI benchmark (benchmarks/gui.py) runs end to end: anvil, the gateway and ``fizz-app``
in processes of their own, a timed launch, a short idle window with the node online. It checks
that every figure is there, never how good it is: no figure is compared with a target here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devnet.chain.anvil import anvil_binary

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not anvil_binary().is_file(),
        reason=f"anvil is not installed at {anvil_binary()} (run scripts/bootstrap.sh)",
    ),
]


def test_bench_gui_reports_launch_rss_and_cpu(tmp_path: Path) -> None:
    pytest.importorskip("PySide6")
    result = subprocess.run(
        [sys.executable, "benchmarks/gui.py", "--seconds", "3", "--settle", "0",
         "--launches", "1", "--json"],
        env={**os.environ, "FIZZ_HOME": str(tmp_path)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=400,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout)

    launch = figures["launch"]
    assert len(launch["seconds"]) == 1 and launch["median_s"] == launch["seconds"][0] > 0
    idle = figures["idle"]
    assert idle["window_s"] > 0 and idle["samples"] >= 3 and idle["threads"] >= 1
    assert 0 < idle["rss_mb_start"] <= idle["rss_mb_max"] and idle["rss_mb_end"] > 0
    assert idle["cpu_seconds"] >= 0 and idle["cpu_percent"] >= 0
    targets = figures["targets"]
    assert (targets["launch_s"], targets["rss_mb"], targets["cpu_percent"]) == (2.5, 200, 1)
    assert targets["launch_ratio_to_target"] == round(launch["median_s"] / 2.5, 3)
    assert targets["rss_max_ratio_to_target"] == round(idle["rss_mb_max"] / 200, 3)
    assert targets["cpu_ratio_to_target"] == round(idle["cpu_percent"] / 1.0, 3)
    assert figures["machine"]["python"]
    # Everything ran in the benchmark's own temporary FIZZ_HOME, none in the caller's.
    assert not any(tmp_path.iterdir())
