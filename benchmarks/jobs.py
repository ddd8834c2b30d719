"""Lease start latency and the node's overhead for an idle container, through the real stack.

Measured in one run, side by side, with the lease manager and the real runners:

- **container start**: ``LeaseManager.submit`` of a busybox HTTP server (image present locally)
  until the lease is ``running`` (target: 1.5 s here), and the runner alone (prepare + start);
- **wasm start**: the same for a WebAssembly job (target: 50 ms), cold (first compile) and warm;
- **idle overhead**: the node process's CPU and RSS over a window with no lease, then with one
  idle container lease polled as the engine does (every second), and the ratio.

Run ``.venv/bin/python benchmarks/jobs.py [--runs N] [--json]`` or ``fizz-node bench jobs``. It
uses the engine ``DOCKER_HOST`` (or the usual socket) names, or starts a private Podman service
when none answers; the busybox image is built locally (nothing is pulled). Record results in
RESULTS.md with the machine described.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the runtime is imported by measure(): `fizz-node --help` stays fast
    from fizz_app.core.jobs.lease_store import Lease
    from fizz_app.core.jobs.leases import LeaseManager

MIB = 1024**2

# A WASI command that prints one line and exits: the smallest real wasm job.
HELLO_WAT = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "hello\\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 6))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options (shared with ``fizz-node bench jobs``)."""
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--runs", type=int, default=10, help="container leases started (10)")
    parser.add_argument("--wasm-runs", type=int, default=100, help="wasm leases started (100)")
    parser.add_argument(
        "--idle-seconds", type=float, default=20.0, help="length of each idle window (20 s)"
    )


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p90_ms": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
        "runs": len(ordered),
    }


@contextlib.contextmanager
def _engine_url(folder: Path) -> Iterator[tuple[str, str]]:
    """The engine to use and where it came from: a running one, or a private Podman service."""
    from fizz_app.core.jobs.engine import EngineUnreachable, connect

    try:
        found = connect(None, timeout=2.0)
    except EngineUnreachable:
        from devnet.engine.podman import PodmanService

        with PodmanService(folder / "podman") as url:
            yield url, "private podman service"
        return
    found.client.close()
    yield found.endpoint, f"{found.name} {found.version or ''}".strip()


class _Running:
    """Signals when a lease reaches ``running`` (on_change runs in the worker thread)."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self.ended: dict[str, Lease] = {}
        self._event = threading.Condition()

    def __call__(self, lease: Lease) -> None:
        from fizz_app.core.jobs.lease_store import LeaseState

        with self._event:
            if lease.state is LeaseState.RUNNING:
                self.times.setdefault(lease.lease_id, time.perf_counter())
            elif not lease.active:
                self.ended[lease.lease_id] = lease
            self._event.notify_all()

    def wait(self, lease_id: str, timeout: float = 60) -> float:
        with self._event:
            ok = self._event.wait_for(
                lambda: lease_id in self.times or lease_id in self.ended, timeout
            )
        if not ok or lease_id not in self.times:
            raise RuntimeError(f"lease {lease_id} did not run: {self.ended.get(lease_id)}")
        return self.times[lease_id]


def _start_latencies(
    manager: LeaseManager, watcher: _Running, manifest: dict[str, Any], runs: int, prefix: str
) -> list[float]:
    samples = []
    for index in range(runs):
        lease_id = f"{prefix}-{index}"
        began = time.perf_counter()
        manager.submit(lease_id, manifest)
        samples.append(watcher.wait(lease_id) - began)
        manager.close(lease_id)
        _wait_closed(manager, lease_id)
    return samples


def _wait_closed(manager: LeaseManager, lease_id: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        lease = manager.get(lease_id)
        if lease is not None and not lease.active:
            return
        manager.poll()
        time.sleep(0.01)
    raise RuntimeError(f"lease {lease_id} did not close")


def _runner_only(runner: Any, manifest: dict[str, Any], runs: int, prefix: str) -> list[float]:
    from fizz_app.core.jobs.manifest import parse_manifest

    job = parse_manifest(manifest)
    samples = []
    for index in range(runs):
        began = time.perf_counter()
        runner.prepare(f"{prefix}-{index}", job, lambda line: None)
        handle = runner.start(f"{prefix}-{index}", job, lambda line: None, lambda line: None)
        samples.append(time.perf_counter() - began)
        handle.stop(1.0)
    return samples


def _window(seconds: float, during: Callable[[], None]) -> dict[str, float]:
    """This process's CPU% of one core and RSS over ``seconds``, calling ``during`` each second
    (the engine's poll)."""
    import psutil

    me = psutil.Process()
    cpu_before = me.cpu_times()
    began = time.perf_counter()
    peak = me.memory_info().rss
    while time.perf_counter() - began < seconds:
        during()
        peak = max(peak, me.memory_info().rss)
        time.sleep(1.0)
    cpu_after = me.cpu_times()
    wall = time.perf_counter() - began
    cpu = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
    return {"cpu_percent": round(100 * cpu / wall, 3), "rss_mib": round(peak / MIB, 1)}


def measure(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    import docker
    import psutil
    import wasmtime

    from devnet.engine.images import WEB_SERVER_COMMAND, busybox_image
    from fizz_app.core.jobs.container import ContainerRunner
    from fizz_app.core.jobs.lease_store import LeaseStore
    from fizz_app.core.jobs.leases import LeaseManager
    from fizz_app.core.jobs.manifest import Capacity
    from fizz_app.core.jobs.wasm import WasmRunner

    offer = Capacity(cpu_millicores=2000, memory_bytes=1024 * MIB, storage_bytes=1024 * MIB)

    results: dict[str, Any] = {
        "machine": {
            "cpus": psutil.cpu_count(),
            "memory_gib": round(psutil.virtual_memory().total / 1024**3, 1),
            "platform": platform.platform(),
            "python": platform.python_version(),
        }
    }
    with _engine_url(folder) as (url, engine):
        results["engine"] = engine
        client = docker.DockerClient(base_url=url, timeout=60)
        image = busybox_image(client)
        client.close()
        http = {
            "name": "web",
            "image": image,
            "command": list(WEB_SERVER_COMMAND),
            "resources": {
                "cpu": {"units": {"val": "500"}},
                "memory": {"size": {"val": str(64 * MIB)}},
                "storage": [{"size": {"val": str(16 * MIB)}}],
            },
            "expose": [{"port": 8080}],
        }
        hello = {
            "name": "hello",
            "runtime": "wasm",
            "wasm_module": base64.b64encode(wasmtime.wat2wasm(HELLO_WAT)).decode(),
        }
        containers = ContainerRunner(f"bench-{int(time.time())}", base_url=url)
        wasm = WasmRunner(folder / "wasm")
        watcher = _Running()
        manager = LeaseManager(
            LeaseStore(folder / "leases.db"),
            [containers, wasm],
            offered=lambda: offer,
            on_change=watcher,
            stop_grace=1.0,
        )
        try:
            began = time.perf_counter()
            manager.submit("wasm-cold", hello)
            results["wasm_start_cold"] = _summary([watcher.wait("wasm-cold") - began])
            _wait_closed(manager, "wasm-cold")
            results["wasm_start"] = _summary(
                _start_latencies(manager, watcher, hello, args.wasm_runs, "wasm")
            )
            results["wasm_runner_only"] = _summary(
                _runner_only(wasm, hello, args.wasm_runs, "wasm-runner")
            )
            results["container_start"] = _summary(
                _start_latencies(manager, watcher, http, args.runs, "ctr")
            )
            results["container_runner_only"] = _summary(
                _runner_only(containers, http, args.runs, "ctr-runner")
            )
            quiet = _window(args.idle_seconds, manager.poll)
            manager.submit("idle", http)
            watcher.wait("idle")
            busy = _window(args.idle_seconds, manager.poll)
            results["idle_overhead"] = {
                "no_lease": quiet,
                "one_idle_container": busy,
                "cpu_percent_added": round(busy["cpu_percent"] - quiet["cpu_percent"], 3),
                "rss_mib_added": round(busy["rss_mib"] - quiet["rss_mib"], 1),
            }
        finally:
            manager.shutdown(stop_jobs=True, timeout=60)
            containers.remove_orphans(set())
            containers.close()
    container_ms = results["container_start"]["median_ms"]
    wasm_ms = results["wasm_start"]["median_ms"]
    results["targets"] = {
        "container_start_ms": 1500,
        "wasm_start_ms": 50,
        "container_ratio_to_target": round(container_ms / 1500, 3),
        "wasm_ratio_to_target": round(wasm_ms / 50, 3),
    }
    return results


def _print(results: dict[str, Any]) -> None:
    print(f"engine: {results['engine']}; machine: {results['machine']}")
    for key in (
        "container_start",
        "container_runner_only",
        "wasm_start_cold",
        "wasm_start",
        "wasm_runner_only",
    ):
        row = results[key]
        print(
            f"{key:24} median {row['median_ms']:>9.2f} ms   p90 {row['p90_ms']:>9.2f} ms"
            f"   ({row['runs']} runs)"
        )
    idle = results["idle_overhead"]
    print(
        f"idle node, no lease:        {idle['no_lease']['cpu_percent']:.3f}% CPU, "
        f"{idle['no_lease']['rss_mib']} MiB RSS"
    )
    print(
        f"idle node, 1 idle container: {idle['one_idle_container']['cpu_percent']:.3f}% CPU, "
        f"{idle['one_idle_container']['rss_mib']} MiB RSS "
        f"(+{idle['cpu_percent_added']:.3f} points, +{idle['rss_mib_added']} MiB)"
    )
    targets = results["targets"]
    print(
        f"container start / 1.5 s target: {targets['container_ratio_to_target']}; "
        f"wasm start / 50 ms target: {targets['wasm_ratio_to_target']}"
    )


def run(args: argparse.Namespace) -> int:
    """Run with parsed :func:`add_arguments` options; 0 on success."""
    with tempfile.TemporaryDirectory(prefix="fizz-bench-jobs-") as folder:
        results = measure(args, Path(folder))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        _print(results)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
