"""How long the system check takes: the in-process probe and the whole ``fizz-node check`` run.

Target (issue: foundation): under 1 s on the project's 2-core machine. Run it as
``.venv/bin/python benchmarks/check.py [--runs N] [--json]``; results go in RESULTS.md with the
machine described. Figures are medians and 90th percentiles of N runs taken side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fizz_app.core.hardware import probe_hardware
from fizz_app.core.requirements import evaluate, load_profile


def _percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _summary(samples: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(samples) * 1000, 1),
        "p90_ms": round(_percentile(samples, 0.9) * 1000, 1),
        "max_ms": round(max(samples) * 1000, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    profile = load_profile("spheron-fizz")
    in_process: list[float] = []
    whole_command: list[float] = []
    script = Path(sys.executable).with_name("fizz-node")
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "FIZZ_HOME": home}
        for _ in range(args.runs):
            started = time.perf_counter()
            evaluate(probe_hardware(Path(home) / "jobs"), profile)
            in_process.append(time.perf_counter() - started)

            started = time.perf_counter()
            subprocess.run(
                [str(script), "check", "--json"], env=env, capture_output=True, check=False
            )
            whole_command.append(time.perf_counter() - started)

    result = {
        "machine": f"{platform.platform()}, {os.cpu_count()} CPU threads, "
        f"Python {platform.python_version()}",
        "runs": args.runs,
        "probe_and_evaluate": _summary(in_process),
        "fizz_node_check_json_process": _summary(whole_command),
        "target_ms": 1000,
        "ratio_process_vs_target": round(statistics.median(whole_command) / 1.0, 3),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"machine: {result['machine']}  runs: {args.runs}")
        for key in ("probe_and_evaluate", "fizz_node_check_json_process"):
            print(f"  {key:<32} {result[key]}")
        print(f"  median process time / 1 s target: {result['ratio_process_vs_target']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
