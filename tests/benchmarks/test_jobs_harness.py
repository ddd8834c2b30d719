"""The job benchmark (benchmarks/jobs.py, ``fizz-node bench jobs``) runs end to end on the real
engine and leaves nothing behind. It checks the harness, never the speed of anything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import docker

from fizz_app.core.jobs.runner import NODE_LABEL

ROOT = Path(__file__).resolve().parents[2]


def test_bench_jobs_reports_every_figure_and_removes_its_containers(
    podman_socket: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("fizz-node")),
            "bench",
            "jobs",
            "--json",
            "--runs",
            "2",
            "--wasm-runs",
            "3",
            "--idle-seconds",
            "1",
        ],
        env={**os.environ, "DOCKER_HOST": podman_socket, "FIZZ_HOME": str(tmp_path)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout)
    for key, runs in (
        ("container_start", 2),
        ("container_runner_only", 2),
        ("wasm_start_cold", 1),
        ("wasm_start", 3),
        ("wasm_runner_only", 3),
    ):
        assert figures[key]["runs"] == runs
        assert 0 < figures[key]["median_ms"] <= figures[key]["max_ms"]
    idle = figures["idle_overhead"]
    assert idle["no_lease"]["rss_mib"] > 0 and idle["one_idle_container"]["rss_mib"] > 0
    targets = figures["targets"]
    assert targets["wasm_ratio_to_target"] == round(figures["wasm_start"]["median_ms"] / 50, 3)
    assert figures["engine"].startswith("podman") or "Podman" in figures["engine"]

    client = docker.DockerClient(base_url=podman_socket)
    try:
        mine = [
            container.name
            for container in client.containers.list(all=True)
            if container.labels.get(NODE_LABEL, "").startswith("bench-")
        ]
        networks = [
            network.name
            for network in client.networks.list()
            if (network.attrs.get("Labels") or {}).get(NODE_LABEL, "").startswith("bench-")
        ]
    finally:
        client.close()
    assert mine == [] and networks == []
