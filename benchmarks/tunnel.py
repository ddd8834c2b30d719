"""Tunnel benchmark on loopback: direct TCP, an OpenSSH reverse tunnel, and the project's own
tunnel once it is registered (``tunnel_lib.register_tunnel("fizz", factory)``).

Workloads, each through every tunnel in one run: (i) one stream sending ``--mb`` MiB into a sink
(timed to the sink's confirmation of the last byte), (ii) the same amount over 16 streams at
once, (iii) HTTP/1.1 requests at a fixed offered rate (open loop, latency from each request's
scheduled time, so stalls are not hidden) on 32 keep-alive connections.

Run it as ``.venv/bin/python benchmarks/tunnel.py [--json] [--quick] [--only direct,ssh]
[--mb 64] [--rate 500] [--seconds 10]``. Machines are shared and noisy: judge by the ratios
printed, taken side by side in one run, never by absolute figures from different runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

if not __package__:  # run as a script: make the repository's ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.tunnel_lib import (  # noqa: E402
    TUNNELS,
    BenchOptions,
    TunnelStartError,
    run_benchmarks,
)

__all__ = ["BenchOptions", "main", "run_benchmarks"]

_LABELS = {
    "single_stream_mib_per_s": "1 stream, MiB/s",
    "multi_stream_mib_per_s": "{streams} streams (total), MiB/s",
    "http_achieved_rps": "HTTP achieved, req/s",
    "http_p50_ms": "HTTP p50 latency, ms",
    "http_p99_ms": "HTTP p99 latency, ms",
}

_HTTP_EXTRAS = {
    "errors": "HTTP errors",
    "service_p50_ms": "HTTP p50 from actual send, ms",
    "service_p99_ms": "HTTP p99 from actual send, ms",
    "send_lag_p99_ms": "HTTP send lag p99 (harness), ms",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options (shared with ``fizz-node bench tunnel``)."""
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--quick", action="store_true", help="small sizes (a few seconds)")
    parser.add_argument(
        "--only",
        default=None,
        help=f"comma-separated tunnels to run (default: all of {','.join(TUNNELS)})",
    )
    parser.add_argument("--mb", type=int, help="MiB per throughput run (default 64)")
    parser.add_argument("--streams", type=int, help="streams of the multi-stream run (16)")
    parser.add_argument("--repeat", type=int, help="throughput runs per tunnel (default 3)")
    parser.add_argument("--rate", type=float, help="offered HTTP requests/s (default 500)")
    parser.add_argument("--seconds", type=float, help="HTTP load duration (default 10)")
    parser.add_argument("--connections", type=int, help="HTTP keep-alive connections (32)")


def options_from(args: argparse.Namespace) -> BenchOptions:
    """``BenchOptions`` from parsed arguments: quick or full defaults, then the overrides."""
    options = BenchOptions.quick() if args.quick else BenchOptions()
    for name in ("mb", "streams", "repeat", "rate", "seconds", "connections"):
        value = getattr(args, name)
        if value is not None:
            if value <= 0:
                raise SystemExit(f"--{name} must be positive")
            setattr(options, name, value)
    if options.mb * (1 << 20) < options.streams:
        raise SystemExit("--mb is too small for that many streams")
    return options


def _table(result: dict[str, Any]) -> str:
    machine = result["machine"]
    lines = [
        f"machine: {machine['cpu_model']}, {machine['cpu_threads']} CPU threads, "
        f"{machine['memory_gib']} GiB, {machine['os']}, kernel {machine['kernel']}, "
        f"{machine['python']}, {machine['openssh']} "
        f"(load {machine['load_avg_1m_at_start']} at start, {machine['date_utc']})",
    ]
    for name, tunnel in result["tunnels"].items():
        details = ", ".join(f"{key} {value}" for key, value in tunnel["details"].items())
        lines.append(f"{name}: {details}")
    names = list(result["metrics"])
    width = max(12, *(len(name) + 2 for name in names))
    streams = result["options"]["streams"]
    lines.append("")
    lines.append(f"{'':<34}" + "".join(f"{name:>{width}}" for name in names))
    for metric, label in _LABELS.items():
        cells = [result["metrics"][name].get(metric) for name in names]
        lines.append(
            f"{label.format(streams=streams):<34}"
            + "".join(f"{'-' if v is None else f'{v:,.3f}':>{width}}" for v in cells)
        )
    for key, label in _HTTP_EXTRAS.items():
        cells = [result["tunnels"][name]["http"].get(key) for name in names]
        lines.append(
            f"{label:<34}"
            + "".join(
                f"{'-' if v is None else (f'{v:,.3f}' if isinstance(v, float) else v):>{width}}"
                for v in cells
            )
        )
    if result["ratios"]:
        lines.append("")
        lines.append("ratios (tunnel / reference; < 1 slower for rates, > 1 slower for latency):")
        for name, per_metric in result["ratios"].items():
            for metric, pairs in per_metric.items():
                shown = ", ".join(f"{key} {value:.3f}" for key, value in pairs.items())
                lines.append(f"  {name:<8} {metric:<26} {shown}")
        for name, overhead in result["latency_overhead_ms"].items():
            shown = ", ".join(f"{key} {value:+.3f} ms" for key, value in overhead.items())
            lines.append(f"  {name:<8} HTTP latency overhead      {shown}")
    return "\n".join(lines)


async def _run(names: list[str], options: BenchOptions, quiet: bool) -> dict[str, Any]:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)  # stop the tunnels, then exit

    def progress(message: str) -> None:
        if not quiet:
            print(message, file=sys.stderr, flush=True)

    return await run_benchmarks(names, options, progress)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark from the command line; 0 on success."""
    return run(_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Run the benchmark with parsed :func:`add_arguments` options; 0 on success."""
    options = options_from(args)
    names = [name.strip() for name in args.only.split(",")] if args.only else list(TUNNELS)
    unknown = [name for name in names if name not in TUNNELS]
    if unknown:
        print(f"unknown tunnel(s): {', '.join(unknown)}; known: {', '.join(TUNNELS)}",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        result = asyncio.run(_run(names, options, quiet=args.json))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted; every tunnel process was stopped", file=sys.stderr)
        return 130
    except TunnelStartError as error:
        print(f"a tunnel could not start: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2) if args.json else _table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
