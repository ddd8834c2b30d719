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
import concurrent.futures
import cProfile
import json
import logging
import multiprocessing
import multiprocessing.synchronize
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import psutil
from hexbytes import HexBytes

if not __package__:  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devnet.chain.accounts import devnet_account  # noqa: E402
from devnet.chain.anvil import AnvilProcess  # noqa: E402
from devnet.chain.deploy import Deployment, deploy_all  # noqa: E402
from devnet.gateway.server import GatewayServer  # noqa: E402
from devnet.gateway.tls import Certificate, self_signed_certificate  # noqa: E402
from fizz_app.core.chain import AsyncChainClient, ChainClient  # noqa: E402
from fizz_app.core.networks import load_network  # noqa: E402
from gateway_client.protocol import TunnelConfig  # noqa: E402

__all__ = ["main"]

SPEC = "linux,cpu,2,16,100,none,0,us-east,NA,x86_64,0.1.0"


def _label(index: int) -> str:
    return f"gateway-load-{index}"


# ---- Chain ---------------------------------------------------------------------------------------


def register_wallets(anvil: AnvilProcess, deployment: Deployment, count: int) -> float:
    """Register ``count`` deterministic wallets as nodes of the devnet gateway; return seconds.

    Each wallet gets its ether from ``anvil_setBalance`` (no transaction) and signs its own
    ``addFizzNode``; a few threads overlap the signing (Python) with anvil's mining.
    """
    w3 = anvil.web3()
    started = time.perf_counter()
    registry = deployment.contract(w3, "FizzRegistry")
    uspon = deployment.address("USPON")
    chain_id = w3.eth.chain_id
    gas_price = w3.eth.gas_price * 2
    probe = devnet_account(_label(0))
    fund = cast(Any, w3.provider).make_request  # anvil_* methods are not in web3's types
    fund("anvil_setBalance", [probe.address, hex(10**18)])
    sample = (deployment.gateway_provider_id, SPEC, probe.address, [uspon], probe.address)
    gas = int(registry.functions.addFizzNode(sample).estimate_gas({"from": probe.address}))

    def register(index: int) -> HexBytes:
        account = devnet_account(_label(index))
        fund("anvil_setBalance", [account.address, hex(10**18)])
        params = (deployment.gateway_provider_id, SPEC, account.address, [uspon], account.address)
        tx = {
            "to": registry.address,
            "data": registry.encode_abi("addFizzNode", args=[params]),
            "gas": gas * 3 // 2,
            "gasPrice": gas_price,
            "nonce": 0,
            "chainId": chain_id,
            "value": 0,
        }
        signed = account.sign_transaction(tx)
        return w3.eth.send_raw_transaction(signed.raw_transaction)

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        hashes = list(pool.map(register, range(count)))
    for tx_hash in hashes:
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
        if receipt["status"] != 1:
            raise RuntimeError("a registration failed")
    return time.perf_counter() - started


# ---- The node process ----------------------------------------------------------------------------


def _nodes_main(
    url: str,
    count: int,
    rate: float,
    cert_pem: str | None,
    window: Any,
    stop: multiprocessing.synchronize.Event,
    results: Any,
) -> None:
    """Entry point of the node process: run ``count`` NodeClients until ``stop`` is set.
    ``window`` holds the hold's start and end (``time.monotonic``, the same clock in every
    process on Linux), set by the main process."""
    logging.basicConfig(level=logging.ERROR)
    results.put(asyncio.run(_run_nodes(url, count, rate, cert_pem, window, stop)))


async def _run_nodes(
    url: str, count: int, rate: float, cert_pem: str | None, window: Any, stop: Any
) -> dict[str, Any]:
    from eth_account.messages import encode_defunct

    from fizz_app.core.pinning import pinned_client_context
    from gateway_client.backoff import ReconnectPolicy
    from gateway_client.client import Connection, FatalSessionError, NodeClient
    from gateway_client.messages import Capacity, ClientInfo, Resources
    from gateway_client.protocol import Event, HeartbeatAcked, SessionClosing, Welcomed

    capacity = Capacity(
        allocatable=Resources(cpu=4000, memory=8 << 30, storage_ephemeral=100 << 30),
        available=Resources(cpu=4000, memory=8 << 30, storage_ephemeral=100 << 30),
        bandwidth="100;50",
        version="0.1.0;0.1.0",
        os="linux",
        arch="x86_64",
    )
    context = pinned_client_context(cert_pem) if cert_pem else None
    counters = {"welcomes": 0, "closes": 0, "fatal": 0}
    close_codes: dict[int, int] = {}
    rtts: list[tuple[float, float]] = []  # (when, round trip) of every heartbeat ack

    async def on_event(connection: Connection, event: Event) -> None:
        if isinstance(event, Welcomed):
            counters["welcomes"] += 1
            connection.send_control(capacity)
        elif isinstance(event, HeartbeatAcked):
            rtts.append((time.monotonic(), event.rtt))
        elif isinstance(event, SessionClosing):
            counters["closes"] += 1
            close_codes[event.code] = close_codes.get(event.code, 0) + 1

    def make_client(index: int) -> NodeClient:
        account = devnet_account(_label(index))

        async def sign(text: str) -> str:
            return str(account.sign_message(encode_defunct(text=text)).signature.to_0x_hex())

        return NodeClient(
            url,
            address=account.address,
            sign=sign,
            client=ClientInfo(name="gateway-load", version="0", instance_id=f"load-{index}"),
            leases=list,
            on_event=on_event,
            ssl_context=context,
            policy=ReconnectPolicy(initial=1.0, maximum=10.0),
        )

    async def run(client: NodeClient) -> None:
        try:
            await client.run()
        except FatalSessionError:
            counters["fatal"] += 1

    clients = []
    tasks = []
    started = time.monotonic()
    for index in range(count):
        client = make_client(index)
        clients.append(client)
        tasks.append(asyncio.create_task(run(client)))
        delay = started + (index + 1) / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
    while not stop.is_set():
        await asyncio.sleep(0.2)
    start, end = window[0], window[1] or time.monotonic()
    rtt_sample = sorted(rtt for when, rtt in rtts if start <= when <= end)
    for client in clients:
        client.stop()
    await asyncio.wait(tasks, timeout=30)
    return {
        **counters,
        "close_codes": close_codes,
        "attempts": sum(client.attempts for client in clients),
        "acks": len(rtts),
        "hold_acks": len(rtt_sample),  # the percentiles below are of these
        "ack_rtt_p50_ms": _ms(rtt_sample, 0.5),
        "ack_rtt_p99_ms": _ms(rtt_sample, 0.99),
        "ack_rtt_max_ms": _ms(rtt_sample, 1.0),
    }


def _ms(sorted_samples: list[float], share: float) -> float | None:
    if not sorted_samples:
        return None
    index = min(len(sorted_samples) - 1, int(share * len(sorted_samples)))
    return round(sorted_samples[index] * 1000, 1)


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
        registration_s = register_wallets(anvil, deployment, args.nodes)
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
            target=_nodes_main,
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
