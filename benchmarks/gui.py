"""The desktop app's start-up time and idle footprint: ``fizz-app`` as a user runs it.

Everything is real and runs in processes of its own (the set-up of ``benchmarks/node_idle.py``):
a local chain (anvil) with every contract and the devnet deployment file in a temporary
``FIZZ_HOME``; the reference gateway (``fizz-node devnet gateway``); a keystore wallet created,
funded and registered with ``fizz-node``, idle-only off, and the node's desired state "online"
(as the app leaves it when the user pressed Start before quitting).

1. **Launch to first window**, ``--launches`` times: from just before ``fizz-app`` is started
   (Qt's offscreen platform, so no display is needed) to the app's log line "first window
   shown", which it writes on the first pass of its event loop after ``window.show()``. Each
   launch quits by itself (``--quit-after``); the median and every figure are reported.
2. **Idle footprint**: ``fizz-app`` again, left running; once the engine is online and has saved
   its first speed test through the gateway, ``--settle`` seconds, then the app process (and
   any children) is sampled every ``--interval`` seconds for ``--seconds`` (60 s): RSS at most,
   CPU % of one core over the window.

Targets (issue 7, on the project's 2-thread machine): at most 2.5 s to the first window,
200 MB RSS and 1 % of one core; the ratios to them are printed.

Run ``.venv/bin/python benchmarks/gui.py [--seconds S] [--json]``; record the results in
RESULTS.md with the machine described.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the project's packages live at the root
    sys.path.insert(0, str(ROOT))

from devnet.supervise import (  # noqa: E402
    Child,
    SupervisionError,
    cli_json,
    fizz_node_command,
    free_port,
    spawn,
    uninterrupted,
    wait_for,
)

__all__ = ["main", "measure"]

MB = 1000**2
LAUNCH_TARGET_S = 2.5
RSS_TARGET_MB = 200.0
CPU_TARGET_PERCENT = 1.0
FIRST_WINDOW = "first window shown"


class BenchmarkError(RuntimeError):
    """A step of the set-up failed; the message says which and shows its output."""


def _progress(text: str) -> None:
    print(f"[bench gui] {text}", file=sys.stderr, flush=True)


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--seconds", type=float, default=60.0, help="idle window (60 s)")
    parser.add_argument("--interval", type=float, default=1.0, help="sampling interval (1 s)")
    parser.add_argument("--settle", type=float, default=5.0, help="wait before sampling (5 s)")
    parser.add_argument("--launches", type=int, default=3, help="launches to time (3)")
    parser.add_argument(
        "--start-timeout", type=float, default=120.0, help="most seconds a step may take (120)"
    )
    return parser.parse_args(argv)


def _fizz_app(fizz_node: str) -> str:
    app = Path(fizz_node).with_name("fizz-app")
    if not app.is_file():
        raise BenchmarkError(f"{app} is missing: run scripts/bootstrap.sh")
    return str(app)


def _log_file(home: Path) -> Path:
    from fizz_app.core.logs import LOG_FILE_NAME

    return home / "logs" / LOG_FILE_NAME


def _set_up(home: Path, env: dict[str, str], folder: Path, timeout: float) -> tuple[Any, Child]:
    """Chain, gateway, a registered wallet that wants to be online; returns (anvil, gateway)."""
    from devnet.chain.anvil import AnvilProcess
    from devnet.chain.deploy import Deployment, deploy_all
    from fizz_app.core.desired import DesiredStore
    from fizz_app.core.state import DesiredState

    anvil = AnvilProcess().start()
    try:
        w3 = anvil.web3()
        deployment = deploy_all(w3, w3.eth.accounts[0])
        deployment = Deployment(**{**deployment.__dict__, "rpc_url": anvil.rpc_url})
        deployment.write_deployment_file(home / "devnet" / "deployment.json")
        fizz_node = fizz_node_command()
        port, public = free_port(), free_port()
        gateway = spawn(
            "gateway",
            [fizz_node, "devnet", "gateway", "--port", str(port), "--api-port", "0",
             "--public-ports", f"{public}-{public}"],
            env,
            folder,
        )  # fmt: skip
        try:
            url = wait_for(gateway, r"serving nodes at (\S+)", timeout).group(1)
            _progress(f"chain up, gateway serving nodes at {url}")
            address = cli_json(fizz_node, env, "wallet", "create")["address"]
            cli_json(fizz_node, env, "devnet", "faucet")
            cli_json(fizz_node, env, "register", "--region", "us-east", "--network", "devnet")
            cli_json(fizz_node, env, "limits", "set", "--idle-only", "off")
            store = DesiredStore(home)
            store.save(dataclasses.replace(store.load(), state=DesiredState.ONLINE))
            _progress(f"wallet {address} funded and registered; desired state online")
        except BaseException:
            gateway.stop(grace_s=10)
            raise
    except BaseException:
        anvil.stop()
        raise
    return anvil, gateway


def _wait_log(home: Path, needle: str, after: int, child: Child, timeout: float) -> float:
    """Poll the app's log (from byte ``after``) until ``needle`` appears; the moment seen."""
    path = _log_file(home)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with path.open("rb") as log:
                log.seek(after)
                if needle.encode() in log.read():
                    return time.perf_counter()
        except OSError:
            pass
        if child.process.poll() is not None:
            raise BenchmarkError(f"fizz-app exited ({child.process.returncode}):\n{child.output()}")
        if time.monotonic() > deadline:
            raise BenchmarkError(f"no {needle!r} in the app's log after {timeout:g} s")
        time.sleep(0.005)


def _log_size(home: Path) -> int:
    try:
        return _log_file(home).stat().st_size
    except OSError:
        return 0


def _time_launches(
    app: str, home: Path, env: dict[str, str], folder: Path, args: Any
) -> list[float]:
    seconds: list[float] = []
    for number in range(1, args.launches + 1):
        after = _log_size(home)
        began = time.perf_counter()
        child = spawn(f"app-launch-{number}", [app, "--quit-after", "3"], env, folder)
        try:
            seconds.append(_wait_log(home, FIRST_WINDOW, after, child, args.start_timeout) - began)
        finally:
            code = child.process.wait(60) if child.running else child.process.returncode
            if child.running:
                child.stop(grace_s=10)
        _progress(f"launch {number}: first window after {seconds[-1]:.3f} s (exit {code})")
    return seconds


def _sample(pid: int, seconds: float, interval: float) -> dict[str, Any]:
    """RSS (the process and its children) and CPU % of one core over ``seconds``."""
    import psutil

    process = psutil.Process(pid)

    def tree() -> list[psutil.Process]:
        return [process, *process.children(recursive=True)]

    def cpu() -> float:
        total = 0.0
        for member in tree():
            times = member.cpu_times()
            total += times.user + times.system
        return total

    rss: list[int] = []
    steps = max(1, round(seconds / interval))
    began, cpu_began = time.perf_counter(), cpu()
    rss.append(sum(member.memory_info().rss for member in tree()))
    for step in range(1, steps + 1):
        time.sleep(max(0.0, began + step * interval - time.perf_counter()))
        rss.append(sum(member.memory_info().rss for member in tree()))
    wall, used = time.perf_counter() - began, cpu() - cpu_began
    return {
        "window_s": round(wall, 2),
        "samples": len(rss),
        "rss_mb_start": round(rss[0] / MB, 1),
        "rss_mb_max": round(max(rss) / MB, 1),
        "rss_mb_end": round(rss[-1] / MB, 1),
        "cpu_seconds": round(used, 3),
        "cpu_percent": round(100 * used / wall, 3),
        "threads": process.num_threads(),
    }


def _machine() -> dict[str, Any]:
    import psutil

    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_threads": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        # Other work on the machine slows the launch: read the figures with the load beside them.
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def measure(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Set everything up in ``folder``, time the launches, sample the idle app; the figures."""
    from fizz_app.core.bandwidth import measurement_path

    home = folder / "home"
    home.mkdir()
    env = {
        **os.environ,
        "FIZZ_HOME": str(home),
        "QT_QPA_PLATFORM": "offscreen",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "FIZZ_WALLET_PASSPHRASE": secrets.token_urlsafe(16),
    }
    fizz_app = _fizz_app(fizz_node_command())
    results: dict[str, Any] = {"machine": _machine()}
    anvil, gateway = _set_up(home, env, folder, args.start_timeout)
    app: Child | None = None
    try:
        launches = _time_launches(fizz_app, home, env, folder, args)
        results["launch"] = {
            "seconds": [round(value, 3) for value in launches],
            "median_s": round(statistics.median(launches), 3),
        }
        after = _log_size(home)
        app = spawn("app", [fizz_app], env, folder)
        _wait_log(home, FIRST_WINDOW, after, app, args.start_timeout)
        deadline = time.monotonic() + args.start_timeout
        while not measurement_path(home).exists():  # online, and the speed test is done
            if time.monotonic() > deadline or not app.running:
                log = _log_file(home).read_text(errors="replace")[-3000:]
                raise BenchmarkError(
                    f"the app's node did not go online (exit {app.process.poll()}):\n"
                    f"{app.output()}\n--- app log:\n{log}"
                )
            time.sleep(0.2)
        _progress(f"app online; settling {args.settle:g} s, then sampling {args.seconds:g} s")
        time.sleep(args.settle)
        results["idle"] = _sample(app.pid, args.seconds, args.interval)
    finally:
        with uninterrupted():
            if app is not None:
                app.stop(grace_s=15)
            gateway.stop(grace_s=15)
            anvil.stop()
    idle, median = results["idle"], results["launch"]["median_s"]
    results["targets"] = {
        "launch_s": LAUNCH_TARGET_S,
        "rss_mb": RSS_TARGET_MB,
        "cpu_percent": CPU_TARGET_PERCENT,
        "launch_ratio_to_target": round(median / LAUNCH_TARGET_S, 3),
        "rss_max_ratio_to_target": round(idle["rss_mb_max"] / RSS_TARGET_MB, 3),
        "cpu_ratio_to_target": round(idle["cpu_percent"] / CPU_TARGET_PERCENT, 3),
    }
    return results


def _print(results: dict[str, Any]) -> None:
    launch, idle, targets = results["launch"], results["idle"], results["targets"]
    print(
        f"launch to first window: median {launch['median_s']:.3f} s of {launch['seconds']} "
        f"(target {targets['launch_s']} s, ratio {targets['launch_ratio_to_target']})"
    )
    print(
        f"idle over {idle['window_s']} s online: RSS max {idle['rss_mb_max']} MB "
        f"(target {targets['rss_mb']:g} MB, ratio {targets['rss_max_ratio_to_target']}), "
        f"CPU {idle['cpu_percent']}% of one core "
        f"(target {targets['cpu_percent']:g}%, ratio {targets['cpu_ratio_to_target']})"
    )


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    if args.seconds <= 0 or args.interval <= 0 or args.launches < 1 or args.settle < 0:
        print("--seconds/--interval must be positive, --launches at least 1", file=sys.stderr)
        return 2
    try:
        with tempfile.TemporaryDirectory(prefix="fizz-bench-gui-") as folder:
            results = measure(args, Path(folder))
    except (BenchmarkError, SupervisionError) as error:
        print(f"gui benchmark failed: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        _print(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
