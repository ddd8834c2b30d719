"""Runs every workload through every tunnel asked for, side by side, and compares them."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import platform
import statistics
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .servers import BenchServers
from .ssh import openssh_version
from .tunnels import REFERENCES, TUNNELS, Address, TunnelUnderTest
from .workloads import MIB, http_load, make_payload, transfer

SCHEMA = "fizz-bench-tunnel/1"
_SETTLE_S = 0.1  # pause between throughput runs: the previous run's connections close

# Metric name -> True when higher is better (throughputs, rates), False for latencies.
METRICS: dict[str, bool] = {
    "single_stream_mib_per_s": True,
    "multi_stream_mib_per_s": True,
    "http_achieved_rps": True,
    "http_p50_ms": False,
    "http_p99_ms": False,
}


@dataclass
class BenchOptions:
    """Sizes and limits of one benchmark run (``quick()`` for tests)."""

    mb: int = 64
    """MiB sent by the single-stream workload, and in all by the multi-stream one."""
    streams: int = 16
    """Connections of the multi-stream workload (each sends ``mb / streams`` MiB)."""
    repeat: int = 3
    """Throughput runs per tunnel, interleaved across tunnels; the median is reported."""
    chunk_kib: int = 256
    """Size of each write of the throughput client."""
    rate: float = 500.0
    """Offered HTTP load, requests per second (open loop)."""
    seconds: float = 10.0
    """Duration of the HTTP load."""
    connections: int = 32
    """Persistent HTTP connections the requests are spread over."""
    response_timeout_s: float = 10.0
    """How long after the last request the HTTP client waits for responses."""
    transfer_timeout_s: float = 120.0
    """Upper bound of one throughput run."""

    @classmethod
    def quick(cls) -> BenchOptions:
        """Small sizes: the whole run takes a few seconds (for tests)."""
        return cls(mb=4, repeat=1, chunk_kib=64, rate=200.0, seconds=1.0, connections=8)


def _read(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def describe_machine() -> dict[str, Any]:
    """CPU model, threads, memory, OS, kernel, Python and OpenSSH versions, date, load."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or platform.machine(),
    )
    memory_kib = next(
        (
            int(line.split()[1])
            for line in _read("/proc/meminfo").splitlines()
            if line.startswith("MemTotal:")
        ),
        0,
    )
    os_name = next(
        (
            line.split("=", 1)[1].strip().strip('"')
            for line in _read("/etc/os-release").splitlines()
            if line.startswith("PRETTY_NAME=")
        ),
        platform.system(),
    )
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cpu_model": cpu,
        "cpu_threads": os.cpu_count(),
        "memory_gib": round(memory_kib / MIB, 1),
        "os": os_name,
        "kernel": platform.release(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "openssh": openssh_version() or "not installed",
        "load_avg_1m_at_start": round(load[0], 2),
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


@contextlib.asynccontextmanager
async def _tunnels(
    names: Sequence[str], target: Address, setup: dict[str, dict[str, Any]], phase: str
) -> AsyncIterator[dict[str, Address]]:
    """Start one tunnel per name to ``target``; yield name -> client address; stop them all."""
    started: list[TunnelUnderTest] = []
    addresses: dict[str, Address] = {}
    try:
        for name in names:
            tunnel = TUNNELS[name](target)
            started.append(tunnel)  # stopped below even if start() fails half-way
            began = time.perf_counter()
            addresses[name] = await tunnel.start()
            setup.setdefault(name, {})[phase] = round(time.perf_counter() - began, 4)
            details = getattr(tunnel, "details", None)
            if callable(details):
                setup[name].setdefault("details", details())
        yield addresses
    finally:
        errors: list[BaseException] = []
        for tunnel in reversed(started):
            try:
                await tunnel.stop()
            except BaseException as error:  # stop every tunnel, then re-raise the first error
                errors.append(error)
        if errors:
            raise errors[0]


def _median_mib_per_s(total_bytes: int, runs: list[float]) -> dict[str, Any]:
    rates = [total_bytes / MIB / seconds for seconds in runs]
    median = statistics.median(rates)
    return {
        "bytes": total_bytes,
        "runs_mib_per_s": [round(rate, 2) for rate in rates],
        "mib_per_s": round(median, 2),
        "mbit_per_s": round(median * MIB * 8 / 1e6, 1),
    }


def compare(metrics: dict[str, dict[str, float]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Ratios of each tunnel's metrics to each reference present (``ratio_vs_direct``,
    ``ratio_vs_ssh``: tunnel / reference), and its HTTP latency overhead in ms over each
    reference (``p50_vs_direct``, ``p99_vs_direct``, ...). ``ssh`` is compared with
    ``direct``; a tunnel that is not a reference (``fizz``) with both; ``direct`` with none."""
    ratios: dict[str, Any] = {}
    overhead: dict[str, Any] = {}
    for name, values in metrics.items():
        # A reference is compared only with the references before it (ssh with direct);
        # any other tunnel with every reference present (fizz with direct and ssh).
        ranked = REFERENCES[: REFERENCES.index(name)] if name in REFERENCES else REFERENCES
        references = [ref for ref in ranked if ref in metrics]
        if not references:
            continue
        ratios[name] = {
            metric: {
                f"ratio_vs_{ref}": round(values[metric] / metrics[ref][metric], 4)
                for ref in references
                if metrics[ref].get(metric) and metric in values
            }
            for metric in METRICS
        }
        overhead[name] = {
            f"{q}_vs_{ref}": round(values[f"http_{q}_ms"] - metrics[ref][f"http_{q}_ms"], 3)
            for ref in references
            for q in ("p50", "p99")
            if f"http_{q}_ms" in values and f"http_{q}_ms" in metrics[ref]
        }
    return ratios, overhead


async def run_benchmarks(
    names: Sequence[str],
    options: BenchOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the throughput and HTTP workloads through each named tunnel; return the results.

    ``names`` are keys of :data:`~tunnel_lib.tunnels.TUNNELS`, run in the order given
    (``direct`` and ``ssh`` first, if present, is customary). Throughput runs are interleaved
    across tunnels (tunnel A, B, A, B, ...) so slow drifts of a shared machine hit all alike.
    Every process a tunnel starts is stopped before this returns, also on errors.
    """
    options = options or BenchOptions()
    say = progress or (lambda _message: None)
    unknown = [name for name in names if name not in TUNNELS]
    if unknown or not names:
        raise ValueError(f"unknown tunnel(s) {unknown}; known: {', '.join(TUNNELS)}")
    names = list(dict.fromkeys(names))
    total = options.mb * MIB
    payload = make_payload(options.chunk_kib * 1024)
    machine = describe_machine()
    setup: dict[str, dict[str, Any]] = {}
    single: dict[str, list[float]] = {name: [] for name in names}
    multi: dict[str, list[float]] = {name: [] for name in names}
    http: dict[str, dict[str, float | int]] = {}

    servers = BenchServers()
    await servers.start()
    try:
        async with _tunnels(names, servers.sink_address, setup, "sink") as addresses:
            for address in addresses.values():  # warm-up, not recorded
                await transfer(address, min(total, 4 * MIB), 1, payload, options.transfer_timeout_s)
            for run in range(options.repeat):
                for name, address in addresses.items():
                    await asyncio.sleep(_SETTLE_S)
                    say(f"[{run + 1}/{options.repeat}] {name}: {options.mb} MiB, 1 stream")
                    single[name].append(
                        await transfer(address, total, 1, payload, options.transfer_timeout_s)
                    )
                for name, address in addresses.items():
                    await asyncio.sleep(_SETTLE_S)
                    say(f"[{run + 1}/{options.repeat}] {name}: {options.mb} MiB, "
                        f"{options.streams} streams")  # fmt: skip
                    multi[name].append(
                        await transfer(
                            address, total, options.streams, payload, options.transfer_timeout_s
                        )
                    )
        async with _tunnels(names, servers.http_address, setup, "http") as addresses:
            for name, address in addresses.items():
                say(f"{name}: HTTP {options.rate:g} req/s for {options.seconds:g} s")
                http[name] = await http_load(
                    address,
                    options.rate,
                    options.seconds,
                    options.connections,
                    options.response_timeout_s,
                )
    finally:
        await servers.stop()

    tunnels: dict[str, Any] = {}
    metrics: dict[str, dict[str, float]] = {}
    for name in names:
        details = setup.get(name, {}).pop("details", {})
        tunnels[name] = {
            "details": details,
            "setup_s": setup.get(name, {}),
            "single_stream": _median_mib_per_s(total, single[name]),
            "multi_stream": {"streams": options.streams, **_median_mib_per_s(total, multi[name])},
            "http": http[name],
        }
        figures = {
            "single_stream_mib_per_s": tunnels[name]["single_stream"]["mib_per_s"],
            "multi_stream_mib_per_s": tunnels[name]["multi_stream"]["mib_per_s"],
            "http_achieved_rps": http[name]["achieved_rps"],
        }
        for q in ("p50", "p99"):
            if f"{q}_ms" in http[name]:
                figures[f"http_{q}_ms"] = http[name][f"{q}_ms"]
        metrics[name] = figures
    ratios, overhead = compare(metrics)
    return {
        "schema": SCHEMA,
        "machine": machine,
        "options": asdict(options),
        "tunnels": tunnels,
        "metrics": metrics,
        "ratios": ratios,
        "latency_overhead_ms": overhead,
        "notes": {
            "ratios": "tunnel / reference: below 1 is slower for throughputs and rates, "
            "above 1 is slower for latencies",
            "mib": "sizes and throughputs in MiB (2^20 bytes); mbit_per_s in 10^6 bits/s",
            "latency": "from each request's scheduled send time to the end of its response",
            "process": "client, sink and HTTP server share one Python process and event loop",
        },
    }
