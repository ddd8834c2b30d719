"""The ``fizz-node`` command groups of the developer tools: ``devnet`` and ``bench``.

Loaded through the ``fizz_node.plugins`` entry point on every ``fizz-node`` start, so this
module only builds argument parsers: each command's code (web3, the gateway, the benchmark
harness) is imported when that command runs (see :mod:`devnet.cli`).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

__all__ = [
    "add_parsers",
    "DEFAULT_API_PORT",
    "DEFAULT_PORT",
    "DEFAULT_GATEWAY_PORT",
    "DEFAULT_PUBLIC_PORTS",
]

DEFAULT_PORT = 8545
"""The local chain's RPC port."""
DEFAULT_GATEWAY_PORT = 8544
"""The gateway's WebSocket port (the real network's)."""
DEFAULT_API_PORT = 8543
"""The gateway's tenant API port (the real network's)."""
DEFAULT_PUBLIC_PORTS = "20000-20100"
"""Public lease ports (the real network's range)."""


def _lazy(name: str) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        commands = importlib.import_module("devnet.cli")
        result: int = getattr(commands, name)(args)
        return result

    return handler


def _benchmark_arguments(parser: argparse.ArgumentParser) -> None:
    from benchmarks.tunnel import add_arguments  # light: argparse and the tunnel registry

    add_arguments(parser)


def _jobs_arguments(parser: argparse.ArgumentParser) -> None:
    from benchmarks.jobs import add_arguments  # imports the job runtime only when run

    add_arguments(parser)


def _node_arguments(parser: argparse.ArgumentParser) -> None:
    from benchmarks.node_idle import add_arguments  # light: the rest is imported when run

    add_arguments(parser)


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``devnet`` command group to ``fizz-node``."""
    bench = sub.add_parser("bench", help="benchmarks (developers); results go in RESULTS.md")
    benches = bench.add_subparsers(dest="bench_command", metavar="BENCHMARK", required=True)
    tunnel = benches.add_parser(
        "tunnel", help="direct TCP vs ssh -R vs this tunnel, on loopback; ratios and latency"
    )
    _benchmark_arguments(tunnel)
    tunnel.set_defaults(handler=_lazy("run_tunnel_benchmark"))
    jobs = benches.add_parser(
        "jobs", help="lease start latency (container, wasm) and idle-container overhead"
    )
    _jobs_arguments(jobs)
    jobs.set_defaults(handler=_lazy("run_jobs_benchmark"))
    node = benches.add_parser(
        "node", help="the headless node's idle footprint (RSS, CPU) online with no lease"
    )
    _node_arguments(node)
    node.set_defaults(handler=_lazy("run_node_benchmark"))

    devnet = sub.add_parser("devnet", help="the local development network (developers)")
    actions = devnet.add_subparsers(dest="devnet_command", metavar="ACTION", required=True)

    chain = actions.add_parser(
        "chain", help="run a local chain with every contract deployed (until Ctrl-C)"
    )
    chain.add_argument("--port", type=int, default=DEFAULT_PORT, help="RPC port (default 8545)")
    chain.add_argument(
        "--era-seconds", type=int, default=120, help="length of a reward era (default 120)"
    )
    chain.set_defaults(handler=_lazy("run_chain"))

    faucet = actions.add_parser("faucet", help="fund an address with ETH and uSPON")
    faucet.add_argument("address", nargs="?", help="0x-address (default: this node's wallet)")
    faucet.add_argument("--eth", default="10", help="ETH to send (default 10)")
    faucet.add_argument("--uspon", default="1000", help="uSPON to mint (default 1000)")
    faucet.add_argument("--json", action="store_true", help="print JSON")
    faucet.set_defaults(handler=_lazy("run_faucet"))

    gateway = actions.add_parser(
        "gateway", help="run the reference gateway nodes connect to (until Ctrl-C)"
    )
    gateway.add_argument(
        "--port", type=int, default=DEFAULT_GATEWAY_PORT, help="WebSocket port (default 8544)"
    )
    gateway.add_argument(
        "--api-port",
        type=int,
        default=DEFAULT_API_PORT,
        help="tenant API port: manifests, lease status, logs, close (default 8543; 0 picks "
        "a free one)",
    )
    gateway.add_argument(
        "--public-ports",
        default=DEFAULT_PUBLIC_PORTS,
        help="range of public lease ports (default 20000-20100)",
    )
    gateway.add_argument("--host", default="127.0.0.1", help="address to listen on")
    gateway.add_argument(
        "--public-host",
        help="address nodes and tenants reach this gateway at, published on chain and in "
        "/status (default: --host; required when --host is 0.0.0.0 or ::)",
    )
    gateway.add_argument(
        "--lease-grace",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="how long a node may stay disconnected before its leases are lost and their "
        "public ports released (default 300)",
    )
    gateway.add_argument(
        "--no-tls", action="store_true", help="serve ws:// and publish no certificate"
    )
    gateway.add_argument(
        "--no-market",
        action="store_true",
        help="serve nodes only: no bids for them, no lease settlement, no era rewards",
    )
    gateway.add_argument(
        "--settle-every",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="how often lease payments are streamed to the nodes (default 2: one block)",
    )
    gateway.set_defaults(handler=_lazy("run_gateway"))

    market = actions.add_parser(
        "market", help="run the matchmaker: orders + bids -> leases (until Ctrl-C)"
    )
    market.add_argument(
        "--bid-window",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="how long bids are collected after an order appears (default 2)",
    )
    market.set_defaults(handler=_lazy("run_market"))

    up = actions.add_parser(
        "up",
        help="the whole local network: chain, gateway, matchmaker, container engine (Ctrl-C)",
    )
    _up_arguments(up)
    up.set_defaults(handler=_lazy("run_up"))

    tenant = actions.add_parser(
        "tenant", help="a demo tenant: orders a web service and a WASM job, checks, closes"
    )
    _tenant_arguments(tenant)
    tenant.set_defaults(handler=_lazy("run_tenant"))


def _up_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--era-seconds", type=int, default=120, help="length of a reward era (default 120)"
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="RPC port (default 8545)")
    parser.add_argument(
        "--gateway-port",
        type=int,
        default=DEFAULT_GATEWAY_PORT,
        help="gateway WebSocket port (default 8544)",
    )
    parser.add_argument(
        "--api-port", type=int, default=DEFAULT_API_PORT, help="tenant API port (default 8543)"
    )
    parser.add_argument(
        "--public-ports", default=DEFAULT_PUBLIC_PORTS, help="public lease ports (20000-20100)"
    )
    parser.add_argument(
        "--no-engine",
        action="store_true",
        help="start no private Podman engine (nodes use their own Docker or Podman)",
    )


def _tenant_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rounds", type=int, default=0, help="rounds of orders, then exit (default 0: forever)"
    )
    parser.add_argument(
        "--interval", type=float, default=20.0, help="seconds between rounds (default 20)"
    )
    parser.add_argument(
        "--lease-seconds",
        type=float,
        default=30.0,
        help="how long the web service runs before the tenant closes it (default 30)",
    )
    parser.add_argument(
        "--max-price",
        type=int,
        default=1_000_000,
        help="most uSPON base units per block an order pays (default 1000000 = 1 uSPON)",
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="most seconds a step may take (default 120)"
    )
