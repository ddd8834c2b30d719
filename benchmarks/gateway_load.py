"""Gateway load: N nodes logged in and heart-beating at once; the gateway's memory and CPU.

Everything is real: anvil serves the chain over HTTP RPC, N wallets are registered on it
(``addFizzNode``, each signed by its own key), the gateway verifies every login with the
stock :class:`~devnet.gateway.auth.LoginVerifier` (signature recovery plus three chain reads),
and the nodes are :class:`~gateway_client.client.NodeClient` instances, all in one separate
process, that log in, report their capacity and heart-beat every ``--heartbeat`` seconds.

Phases: register N wallets; start the gateway in this process; start the node process, which
connects ``--rate`` nodes per second; once all N sessions are open, hold ``--hold`` seconds,
sampling this process (the gateway) every second with psutil; then stop everything and print
one JSON document. Optionally (``--restart``) stop the gateway and start a new one on the same
port, and time how long the N nodes take to be back.

Run it as ``.venv/bin/python benchmarks/gateway_load.py [--nodes 2000] [--hold 60]
[--heartbeat 5] [--rate 100] [--tls] [--restart]``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import logging
import multiprocessing
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

if not __package__:  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devnet.chain.anvil import AnvilProcess  # noqa: E402
from devnet.chain.deploy import Deployment, deploy_all  # noqa: E402
from devnet.gateway.server import GatewayServer  # noqa: E402
from devnet.gateway.tls import Certificate, self_signed_certificate  # noqa: E402
from devnet.simulate import nodes_main, register_wallets  # noqa: E402
from fizz_app.core.chain import AsyncChainClient, ChainClient  # noqa: E402
from fizz_app.core.networks import load_network  # noqa: E402
from gateway_client.protocol import TunnelConfig  # noqa: E402

__all__ = ["main"]


# ---- Measuring -----------------------------------------------------------------------------------


async def wait_until(
    predicate: Callable[[], bool], timeout: float, progress: Callable[[], str] | None = None
) -> float:
    """Poll until ``predicate`` holds; return the seconds it took (raises after ``timeout``).
    Prints ``progress()`` to stderr every 5 s meanwhile."""
    started = time.monotonic()
    shown = started
    while not predicate():
        now = time.monotonic()
        if now - started > timeout:
            raise TimeoutError("condition not reached in time")
        if progress is not None and now - shown >= 5:
            shown = now
            print(f"[{now - started:5.0f} s] {progress()}", file=sys.stderr, flush=True)
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def hold(
    gateway: GatewayServer, seconds: float, processes: dict[str, psutil.Process]
) -> dict[str, Any]:
    """Sample every second for ``seconds``: RSS, CPU% of each process, and open sessions."""
    for process in processes.values():
        process.cpu_percent(None)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in processes}
    sessions: list[int] = []
    deadline = time.monotonic() + seconds
    times_before = {name: p.cpu_times() for name, p in processes.items()}
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        sessions.append(len(gateway.sessions))
        for name, process in processes.items():
            samples[name].append((process.memory_info().rss / 2**20, process.cpu_percent(None)))
    result: dict[str, Any] = {
        "seconds": seconds,
        "sessions_min": min(sessions),
        "sessions_max": max(sessions),
    }
    for name, process in processes.items():
        rss = [s[0] for s in samples[name]]
        cpu = [s[1] for s in samples[name]]
        before, after = times_before[name], process.cpu_times()
        used = (after.user + after.system) - (before.user + before.system)
        result[name] = {
            "rss_mib_mean": round(statistics.fmean(rss), 1),
            "rss_mib_max": round(max(rss), 1),
            "cpu_percent_mean": round(used / seconds * 100, 1),
            "cpu_percent_p50": round(statistics.median(cpu), 1),
            "cpu_percent_max": round(max(cpu), 1),
        }
    return result


async def run_load(args: argparse.Namespace) -> dict[str, Any]:
    me = psutil.Process()
    home = Path(tempfile.mkdtemp(prefix="gateway-load-"))
    with AnvilProcess() as anvil:
        w3 = anvil.web3()
        deployment = deploy_all(w3, w3.eth.accounts[0])
        deployment = Deployment(**{**deployment.__dict__, "rpc_url": anvil.rpc_url})
        (home / "devnet").mkdir()
        deployment.write_deployment_file(home / "devnet" / "deployment.json")
        registration_s = register_wallets(w3, deployment, args.nodes)
        chain = ChainClient(load_network("devnet", home), home)
        certificate: Certificate | None = self_signed_certificate() if args.tls else None
        config = TunnelConfig(
            heartbeat_interval=args.heartbeat, heartbeat_timeout=max(4 * args.heartbeat, 20.0)
        )

        def new_gateway(port: int = 0) -> GatewayServer:
            return GatewayServer(
                AsyncChainClient(chain),
                deployment.gateway_provider_id,
                port=port,
                certificate=certificate,
                config=config,
                login_workers=args.login_workers,
            )

        gateway = new_gateway()
        await gateway.start()
        baseline_rss = me.memory_info().rss / 2**20
        spawn = multiprocessing.get_context("spawn")
        stop, results = spawn.Event(), spawn.Queue()
        window = spawn.Array("d", [float("inf"), 0.0])  # the hold, for the node side's acks
        nodes = spawn.Process(
            target=nodes_main,
            args=(
                gateway.url,
                args.nodes,
                args.rate,
                certificate and certificate.cert_pem,
                window,
            ),
            kwargs={"stop": stop, "results": results},
            name="gateway-load-nodes",
        )
        nodes.start()
        report: dict[str, Any] = {
            "nodes": args.nodes,
            "heartbeat_interval_s": args.heartbeat,
            "tls": args.tls,
            "login_workers": args.login_workers,
            "registration_s": round(registration_s, 1),
            "gateway_rss_mib_before_nodes": round(baseline_rss, 1),
        }
        try:
            timeout = args.nodes / args.rate + 120
            me.cpu_percent(None)

            def progress() -> str:
                return f"{len(gateway.sessions)} sessions, gateway CPU {me.cpu_percent(None):.0f}%"

            connect_s = await wait_until(
                lambda: len(gateway.sessions) >= args.nodes, timeout, progress
            )
            report["all_connected_after_s"] = round(connect_s, 1)
            processes = {
                "gateway": me,
                "node_process": psutil.Process(nodes.pid),
                "anvil": psutil.Process(anvil.pid),
            }
            profiler = cProfile.Profile() if args.profile else None
            if profiler is not None:
                profiler.enable()
            window[0] = time.monotonic()
            report["hold"] = await hold(gateway, args.hold, processes)
            window[1] = time.monotonic()
            if profiler is not None:
                profiler.disable()
                stats = pstats.Stats(profiler, stream=sys.stderr)
                stats.sort_stats("tottime").print_stats(25)
            report["hold"]["gateway"]["rss_kib_per_session"] = round(
                (report["hold"]["gateway"]["rss_mib_mean"] - baseline_rss) * 1024 / args.nodes, 1
            )
            if args.restart:
                port = gateway.port
                started = time.monotonic()
                await gateway.stop()
                report["restart_stop_s"] = round(time.monotonic() - started, 1)
                gateway = new_gateway(port)
                await gateway.start()
                back = await wait_until(lambda: len(gateway.sessions) >= args.nodes, 300)
                report["restart_all_back_after_s"] = round(back, 1)
        finally:
            stop.set()
            try:
                report["node_side"] = await asyncio.to_thread(results.get, True, 120)
            except Exception as error:  # noqa: BLE001 - report what is missing, not crash
                report["node_side"] = {"error": repr(error)}
            nodes.join(30)
            started = time.monotonic()
            await gateway.stop()
            report["gateway_stop_s"] = round(time.monotonic() - started, 1)
    report["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=2000, help="nodes to connect (2000)")
    parser.add_argument("--hold", type=float, default=60.0, help="seconds to hold them (60)")
    parser.add_argument("--heartbeat", type=float, default=5.0, help="heartbeat interval (5 s)")
    parser.add_argument("--rate", type=float, default=100.0, help="new nodes per second (100)")
    parser.add_argument(
        "--login-workers", type=int, default=2, help="logins the gateway verifies at once (2)"
    )
    parser.add_argument("--tls", action="store_true", help="wss:// with a pinned certificate")
    parser.add_argument("--restart", action="store_true", help="also time a gateway restart")
    parser.add_argument(
        "--profile", action="store_true", help="profile the gateway during the hold (stderr)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    report = asyncio.run(run_load(args))
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
