"""The headless node's idle footprint: ``fizz-node run`` online, the tunnel up, no lease.

Everything is real and each part runs in a process of its own, as a user would run them:

- a local chain (anvil from ``tools/npm``) with every contract deployed, its deployment file
  written where ``--network devnet`` finds it, in a temporary ``FIZZ_HOME``;
- the reference gateway, ``fizz-node devnet gateway`` (self-signed TLS certificate, published on
  chain with its address, as it does by default);
- a wallet in the passphrase-encrypted keystore (``fizz-node wallet create``; no OS keyring is
  touched), funded with ``fizz-node devnet faucet``, registered with ``fizz-node register``,
  with ``fizz-node limits set --idle-only off`` so that the node goes online rather than pausing;
- ``fizz-node run --json``, waited for until it reports ``online`` and has saved its first
  speed test through the gateway (a one-off burst that a fresh node runs once connected, then
  once a week), then ``--settle`` seconds more.

Then the node process (and any children it has) is sampled every ``--interval`` seconds for
``--seconds`` (default 60) with no lease: RSS at the start, at most and at the end, CPU % of one
core over the window (from each process's CPU-time clock on Linux, in nanoseconds; elsewhere in
10 ms ticks), the CPU milliseconds of each interval, threads; the gateway's figures are taken in
the same window for context. Where the platform allows, the node's resident memory is also broken
down by mapping (the heap and anonymous memory, and each library or Python extension package).
Targets (issue: headless node): at most 120 MB RSS and 0.5 % of one core; the ratios are printed.

Finally the node is stopped with SIGTERM (it must drain and exit 0), then the gateway and anvil;
everything is stopped on errors and Ctrl-C too.

Run ``.venv/bin/python benchmarks/node_idle.py [--seconds S] [--json]`` or
``fizz-node bench node``. Record results in RESULTS.md with the machine described.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devnet.supervise import (
    Child,
    SupervisionError,
    cli_json,
    fizz_node_command,
    free_port,
    spawn,
    terminate_on_sigterm,
    uninterrupted,
    wait_for,
    wait_for_file,
)

if TYPE_CHECKING:  # imported by measure(): `fizz-node --help` stays fast
    import psutil

MB = 1000**2
"""The target is in MB; figures are reported in MiB and MB both."""
MIB = 1024**2
RSS_TARGET_MB = 120.0
CPU_TARGET_PERCENT = 0.5
TEMP_PREFIX = "fizz-bench-node-"
"""Prefix of the benchmark's temporary folder (tests look for processes that name it)."""
RUN_ENV = "FIZZ_BENCH_NODE_RUN"
"""Set to the temporary folder in the environment of every process the benchmark starts
(anvil included), so that a leftover one can be recognised."""

__all__ = ["RUN_ENV", "TEMP_PREFIX", "add_arguments", "main", "measure", "run"]


class BenchmarkError(SupervisionError):
    """A step of the set-up failed; the message says which and shows its output."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options (shared with ``fizz-node bench node``)."""
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--seconds", type=float, default=60.0, help="length of the idle window (60 s)"
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=5.0,
        help="seconds between the node reporting online and the window (5 s)",
    )
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between samples (1 s)")
    parser.add_argument(
        "--start-timeout",
        type=float,
        default=120.0,
        help="most seconds the gateway or the node may take to come up (120 s)",
    )


def _progress(text: str) -> None:
    """One line on stderr (stdout carries the results only)."""
    print(f"[bench node] {text}", file=sys.stderr, flush=True)


# ---- processes: devnet.supervise (shared with `fizz-node devnet up` and the e2e tests) -----


def _fizz_node() -> str:
    try:
        return fizz_node_command()
    except SupervisionError as error:
        raise BenchmarkError(str(error)) from None


# ---- sampling ---------------------------------------------------------------------------


def _tree(process: psutil.Process) -> list[psutil.Process]:
    import psutil

    try:
        return [process, *process.children(recursive=True)]
    except psutil.Error:
        return [process]


def _cpu_clock(pid: int) -> float | None:
    """CPU seconds of a whole process (every thread, exited ones too) in nanoseconds'
    precision, from its CPU-time clock (Linux; the clock id clock_getcpuclockid(3) returns).
    ``None`` elsewhere, or when the process is gone."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return time.clock_gettime_ns(((~pid) << 3) | 2) / 1e9
    except OSError:
        return None


def _cpu_seconds(process: psutil.Process) -> float:
    """CPU seconds of the process, its reaped children and its live descendants: each
    process's CPU-time clock where there is one, else its user + system times (10 ms ticks)."""
    import psutil

    total = 0.0
    for index, member in enumerate(_tree(process)):
        try:
            times = member.cpu_times()
        except psutil.Error:
            continue
        precise = _cpu_clock(member.pid)
        total += precise if precise is not None else times.user + times.system
        if index == 0:
            total += times.children_user + times.children_system
    return total


def _rss(process: psutil.Process) -> int:
    import psutil

    total = 0
    for member in _tree(process):
        with contextlib.suppress(psutil.Error):
            total += member.memory_info().rss
    return total


class _Sampler:
    """RSS and CPU of one process tree, sampled over a window."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.process = psutil.Process(pid)
        self.rss: list[int] = []
        self.cpu: list[float] = []
        self.times: list[float] = []
        self.threads = 0
        self.children = 0

    def sample(self) -> None:
        import psutil

        self.times.append(time.perf_counter())
        self.cpu.append(_cpu_seconds(self.process))
        self.rss.append(_rss(self.process))
        members = _tree(self.process)
        self.children = max(self.children, len(members) - 1)
        with contextlib.suppress(psutil.Error):
            self.threads = max(self.threads, self.process.num_threads())

    def figures(self) -> dict[str, Any]:
        wall = self.times[-1] - self.times[0]
        cpu = self.cpu[-1] - self.cpu[0]
        steps = [
            100 * (self.cpu[i] - self.cpu[i - 1]) / (self.times[i] - self.times[i - 1])
            for i in range(1, len(self.times))
        ]
        return {
            "rss_mib_start": round(self.rss[0] / MIB, 1),
            "rss_mib_max": round(max(self.rss) / MIB, 1),
            "rss_mib_end": round(self.rss[-1] / MIB, 1),
            "rss_mb_max": round(max(self.rss) / MB, 1),
            "cpu_seconds": round(cpu, 4),
            "cpu_percent": round(100 * cpu / wall, 3),
            "cpu_percent_busiest_interval": round(max(steps), 2),
            # The typical interval: robust to bursts that other load on the machine causes.
            "cpu_percent_median_interval": round(statistics.median(steps), 3),
            "cpu_ms_by_interval": [
                round(1000 * (self.cpu[i] - self.cpu[i - 1]), 1) for i in range(1, len(self.cpu))
            ],
            "cpu_clock": "process CPU-time clock (ns)"
            if _cpu_clock(self.process.pid) is not None
            else "user + system times (10 ms ticks)",
            "window_s": round(wall, 2),
            "samples": len(self.rss),
            "threads_max": self.threads,
            "children_max": self.children,
        }


def _sample_window(samplers: Sequence[_Sampler], seconds: float, interval: float) -> None:
    """Sample at 0, ``interval``, 2 ``interval``... up to ``seconds`` (on a fixed schedule, so
    that every interval has the same length)."""
    steps = max(1, round(seconds / interval))
    began = time.perf_counter()
    for sampler in samplers:
        sampler.sample()
    for step in range(1, steps + 1):
        time.sleep(max(0.0, began + step * interval - time.perf_counter()))
        for sampler in samplers:
            sampler.sample()


def _package_of(path: str) -> str:
    """What a mapped file belongs to: a site-packages package, libpython, or the file name."""
    if not path.startswith("/"):
        return path or "[anon]"
    parts = Path(path).parts
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            rest = parts[parts.index(marker) + 1 :]
            if rest:
                name = rest[0]
                if name.endswith(".libs"):  # auditwheel's vendored libraries
                    name = name[: -len(".libs")]
                return f"pkg:{name.split('.')[0].split('-')[0]}"
    if "lib-dynload" in parts:
        return "python stdlib extensions"
    name = parts[-1]
    if name.startswith("libpython") or name.startswith("python3"):
        return "python interpreter"
    return name


def _memory_breakdown(pid: int) -> dict[str, Any]:
    """The node's resident memory by mapping (Linux: /proc/PID/smaps), and its USS/PSS."""
    import psutil

    process = psutil.Process(pid)
    try:
        full = process.memory_full_info()
        maps = process.memory_maps(grouped=True)
    except (psutil.Error, AttributeError, NotImplementedError) as error:
        return {"unavailable": type(error).__name__}
    groups: dict[str, int] = {}
    for mapping in maps:
        key = _package_of(mapping.path)
        groups[key] = groups.get(key, 0) + mapping.rss
    ordered = sorted(groups.items(), key=lambda item: -item[1])
    native = sorted(key[4:] for key in groups if key.startswith("pkg:"))
    return {
        "uss_mib": round(full.uss / MIB, 1),
        "pss_mib": round(getattr(full, "pss", 0) / MIB, 1),
        "rss_by_mapping_mib": {key: round(value / MIB, 1) for key, value in ordered if value},
        "native_extension_packages": native,
    }


# ---- the run ----------------------------------------------------------------------------


def _machine() -> dict[str, Any]:
    import psutil

    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu_model": model or platform.processor() or platform.machine(),
        "cpu_threads": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else 0,
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


@contextlib.contextmanager
def _marked_environment(folder: Path) -> Iterator[None]:
    """:data:`RUN_ENV` in this process's environment while it starts children (anvil)."""
    previous = os.environ.get(RUN_ENV)
    os.environ[RUN_ENV] = str(folder)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(RUN_ENV, None)
        else:
            os.environ[RUN_ENV] = previous


def _set_up_chain(home: Path) -> tuple[Any, dict[str, Any]]:
    """Start anvil, deploy the contracts and write the devnet deployment file in ``home``."""
    from devnet.chain.anvil import AnvilError, AnvilProcess
    from devnet.chain.deploy import Deployment, deploy_all

    try:
        anvil = AnvilProcess().start()
    except AnvilError as error:
        raise BenchmarkError(f"the local chain did not start: {error}") from None
    try:
        w3 = anvil.web3()
        deployment = deploy_all(w3, w3.eth.accounts[0])
        deployment = Deployment(**{**deployment.__dict__, "rpc_url": anvil.rpc_url})
        deployment.write_deployment_file(home / "devnet" / "deployment.json")
    except BaseException:
        anvil.stop()
        raise
    return anvil, {"rpc_url": anvil.rpc_url, "gateway_id": deployment.gateway_provider_id}


def measure(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Set everything up in ``folder``, sample the idle node, stop everything; the figures."""
    import psutil

    from fizz_app.core.bandwidth import measurement_path

    if args.seconds <= 0 or args.interval <= 0 or args.settle < 0:
        raise BenchmarkError("--seconds and --interval must be positive, --settle 0 or more")
    fizz_node = _fizz_node()
    home = folder / "home"
    home.mkdir()
    env = {
        **os.environ,
        "FIZZ_HOME": str(home),
        # The wallet goes in the keystore file in FIZZ_HOME, never in the user's OS keyring.
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "FIZZ_WALLET_PASSPHRASE": secrets.token_urlsafe(16),
    }
    results: dict[str, Any] = {"machine": _machine(), "home": str(home)}
    children: list[Child] = []
    anvil: Any = None
    pids: dict[str, int] = {}
    timings: dict[str, float] = {}
    try:
        began = time.perf_counter()
        anvil, chain = _set_up_chain(home)
        pids["anvil"] = anvil.pid
        timings["chain_s"] = time.perf_counter() - began
        _progress(f"chain up at {chain['rpc_url']}, contracts deployed")

        began = time.perf_counter()
        port, public = free_port(), free_port()
        gateway = spawn(
            "gateway",
            [fizz_node, "devnet", "gateway", "--port", str(port), "--api-port", "0",
             "--public-ports", f"{public}-{public}"],
            env,
            folder,
        )  # fmt: skip
        children.append(gateway)
        pids["gateway"] = gateway.pid
        url = wait_for(gateway, r"serving nodes at (\S+)", args.start_timeout).group(1)
        timings["gateway_s"] = time.perf_counter() - began
        _progress(f"gateway serving nodes at {url}")

        began = time.perf_counter()
        address = cli_json(fizz_node, env, "wallet", "create")["address"]
        cli_json(fizz_node, env, "devnet", "faucet")
        registered = cli_json(
            fizz_node, env, "register", "--region", "us-east", "--network", "devnet"
        )
        cli_json(fizz_node, env, "limits", "set", "--idle-only", "off")
        timings["wallet_register_s"] = time.perf_counter() - began
        _progress(
            f"wallet {address} funded and registered as Fizz node {registered.get('fizz_id')}"
        )

        began = time.perf_counter()
        node = spawn("node", [fizz_node, "run", "--json"], env, folder)
        children.append(node)
        pids["node"] = node.pid
        try:
            wait_for(node, r'"status": "(online)"', args.start_timeout)
        except SupervisionError as error:  # the gateway's side of the story helps
            raise BenchmarkError(f"{error}\n--- gateway output:\n{gateway.output(1500)}") from None
        timings["node_online_s"] = time.perf_counter() - began
        node_rss_online = _rss(psutil.Process(node.pid))
        # Once connected, a node with no measurement runs the gateway's speed test (then once
        # a week): a one-off burst that is not idling, so the window starts after it.
        _progress("node online; waiting for its first speed test through the gateway")
        began = time.perf_counter()
        speed_test = wait_for_file(measurement_path(home), node, args.start_timeout)
        timings["speed_test_s"] = time.perf_counter() - began
        results["setup"] = {
            "gateway_url": url,
            "gateway_id": chain["gateway_id"],
            "address": address,
            "fizz_id": registered.get("fizz_id"),
            "seconds": {key: round(value, 2) for key, value in timings.items()},
            "speed_test_saved": speed_test,
        }
        _progress(f"settling {args.settle:g} s, then sampling {args.seconds:g} s")
        time.sleep(args.settle)
        samplers = [_Sampler(node.pid), _Sampler(gateway.pid)]
        _sample_window(samplers, args.seconds, args.interval)
        for child in (node, gateway):
            if child.process.poll() is not None:
                raise BenchmarkError(
                    f"{child.name} exited during the window ({child.process.returncode}):\n"
                    f"{child.output()}"
                )
        leases = [line for line in node.output(1_000_000).splitlines() if '"lease_changed"' in line]
        if leases:
            raise BenchmarkError(f"the node was given a lease during the window: {leases[0]}")
        results["node"] = {
            **samplers[0].figures(),
            "rss_mib_when_online": round(node_rss_online / MIB, 1),
            "memory": _memory_breakdown(node.pid),
        }
        results["gateway"] = samplers[1].figures()

        _progress("stopping the node (SIGTERM), the gateway and the chain")
        began = time.perf_counter()
        code = node.stop(grace_s=60)
        tail = node.output(2000)
        results["node_exit"] = {
            "exit_code": code,
            "signals": node.signalled,
            "stopped_cleanly": code == 0 and "stopped cleanly" in tail,
            "drain_s": round(time.perf_counter() - began, 2),
        }
        if not results["node_exit"]["stopped_cleanly"]:
            raise BenchmarkError(f"the node did not stop cleanly on SIGTERM ({code}):\n{tail}")
        results["gateway_exit_code"] = gateway.stop(grace_s=15)
    finally:
        with uninterrupted():
            for child in reversed(children):
                if child.exit_code is None:
                    _progress(f"{child.name} stopped (exit {child.stop(grace_s=15)})")
            if anvil is not None:
                anvil.stop()
    results["pids"] = pids
    node_figures = results["node"]
    results["targets"] = {
        "rss_mb": RSS_TARGET_MB,
        "cpu_percent": CPU_TARGET_PERCENT,
        "rss_max_ratio_to_target": round(node_figures["rss_mb_max"] / RSS_TARGET_MB, 3),
        "cpu_ratio_to_target": round(node_figures["cpu_percent"] / CPU_TARGET_PERCENT, 3),
    }
    return results


def _print(results: dict[str, Any]) -> None:
    machine = results["machine"]
    print(
        f"machine: {machine['cpu_model']}, {machine['cpu_threads']} threads, "
        f"{machine['memory_gib']} GiB, {machine['platform']}, Python {machine['python']}"
    )
    setup = results["setup"]
    print(
        f"node registered as Fizz node {setup['fizz_id']}, online through {setup['gateway_url']} "
        f"(set-up: {setup['seconds']})"
    )
    for name in ("node", "gateway"):
        row = results[name]
        print(
            f"{name:8} RSS start {row['rss_mib_start']:>6.1f}  max {row['rss_mib_max']:>6.1f}  "
            f"end {row['rss_mib_end']:>6.1f} MiB   CPU {row['cpu_percent']:.3f}% of one core "
            f"(median second {row['cpu_percent_median_interval']:.2f}%, busiest "
            f"{row['cpu_percent_busiest_interval']:.2f}%), {row['threads_max']} threads, "
            f"{row['window_s']} s"
        )
    memory = results["node"]["memory"]
    if "uss_mib" in memory:
        print(f"node USS {memory['uss_mib']} MiB, PSS {memory['pss_mib']} MiB; RSS by mapping:")
        for key, value in list(memory["rss_by_mapping_mib"].items())[:12]:
            print(f"  {value:>7.1f} MiB  {key}")
    exit_ = results["node_exit"]
    print(f"node exit on SIGTERM: {exit_['exit_code']} after {exit_['drain_s']} s")
    targets = results["targets"]
    print(
        f"RSS max {results['node']['rss_mb_max']} MB / {RSS_TARGET_MB:g} MB target: "
        f"{targets['rss_max_ratio_to_target']}; CPU {results['node']['cpu_percent']}% / "
        f"{CPU_TARGET_PERCENT}% target: {targets['cpu_ratio_to_target']}"
    )


def run(args: argparse.Namespace) -> int:
    """Run with parsed :func:`add_arguments` options: 0 on success, 1 when a step failed, 130
    when interrupted (Ctrl-C or SIGTERM); everything started is stopped in every case."""
    try:
        with (
            terminate_on_sigterm(),
            tempfile.TemporaryDirectory(prefix=TEMP_PREFIX) as folder,
            _marked_environment(Path(folder)),
        ):
            results = measure(args, Path(folder))
    except SupervisionError as error:
        print(f"node idle benchmark failed: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("node idle benchmark interrupted; everything it started is stopped", file=sys.stderr)
        return 130
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
