"""``fizz-node devnet ...`` and ``fizz-node bench ...``: the developer tools' commands. Their
parsers live in :mod:`devnet.plugin` (the ``fizz_node.plugins`` entry point), which imports
this module only when one of them runs; the product itself never imports this package.

- ``fizz-node devnet chain``: start anvil, deploy every contract, write the deployment file that
  ``--network devnet`` reads, and keep running until Ctrl-C (then the file is removed: the
  chain's state is gone with it).
- ``fizz-node devnet faucet [ADDRESS]``: give an address (default: this node's wallet) ETH for
  gas and uSPON.
- ``fizz-node devnet gateway``: run the reference gateway for the devnet's gateway provider,
  publish its address and TLS certificate on chain, and serve nodes until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import signal
import threading
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from web3 import Web3

from devnet.chain.anvil import AnvilError, AnvilProcess
from devnet.chain.deploy import Deployment, DeploymentError, deploy_all
from devnet.chain.faucet import USPON_UNIT, fund
from devnet.chain.provider import publish_gateway
from devnet.gateway.server import GatewayServer, public_host_for
from devnet.gateway.tls import kept_certificate
from fizz_app.cli.output import emit
from fizz_app.core import paths
from fizz_app.core.chain import AsyncChainClient, ChainClient
from fizz_app.core.chain_errors import ChainError
from fizz_app.core.errors import UserFacingError
from fizz_app.core.networks import load_network

__all__ = [
    "deployment_path",
    "forget_gateway",
    "gateway_state_path",
    "gateway_tls_path",
    "run_chain",
    "run_faucet",
    "run_gateway",
]


DEFAULT_API_URL = "https://127.0.0.1:8543"
"""The tenant API of a gateway started with the defaults (``devnet gateway``, ``devnet up``)."""


def deployment_path() -> Path:
    """Where ``--network devnet`` finds the contracts (see resources/networks/devnet.json)."""
    return paths.data_dir() / "devnet" / "deployment.json"


def gateway_state_path() -> Path:
    """Where the devnet gateway keeps its leases and public ports (removed with the chain)."""
    return paths.data_dir() / "devnet" / "gateway-state.json"


def gateway_tls_path() -> Path:
    """Where the devnet gateway keeps its TLS certificate and key (mode 0600), so a restarted
    gateway presents the certificate its nodes pinned."""
    return paths.data_dir() / "devnet" / "gateway-tls.json"


def forget_gateway() -> None:
    """Remove what the devnet gateway kept for the chain that is going away (its leases,
    public ports and certificate)."""
    gateway_state_path().unlink(missing_ok=True)
    gateway_tls_path().unlink(missing_ok=True)


def run_chain(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536 or args.era_seconds <= 0:
        raise UserFacingError(
            "The port must be 1-65535 and the era length positive.", "Check the arguments."
        )
    path = deployment_path()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        anvil = AnvilProcess(port=args.port).start()
    except AnvilError as error:
        raise UserFacingError(
            f"The local chain could not start: {error}",
            f"Free port {args.port} (or pass --port), and run 'make run' once so anvil is "
            "installed.",
        ) from None
    try:
        w3 = anvil.web3()
        deployment = deploy_all(w3, w3.eth.accounts[0], era_seconds=args.era_seconds)
        deployment = Deployment(**{**deployment.__dict__, "rpc_url": anvil.rpc_url})
        deployment.write_deployment_file(path)
        print(f"Local chain {anvil.chain_id} at {anvil.rpc_url}; contracts deployed:", flush=True)
        for name, address in sorted(deployment.addresses.items()):
            print(f"  {name:<22} {address}")
        print(f"Gateway provider id {deployment.gateway_provider_id}; eras of "
              f"{deployment.era_seconds} s.\nDeployment file: {path}\nPress Ctrl-C to stop.",
              flush=True)  # fmt: skip
        while not stop.wait(0.5):
            if not anvil.running:
                raise UserFacingError("The local chain stopped unexpectedly.", "Start it again.")
    finally:
        path.unlink(missing_ok=True)
        forget_gateway()  # its leases died with the chain
        anvil.stop()
    return 0


def _amount(text: str, decimals: int, what: str) -> int:
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal(-1)
    if value < 0:
        raise UserFacingError(f"{text!r} is not an amount of {what}.", "Pass a number like 10.")
    return int(value.scaleb(decimals))


def read_deployment() -> Deployment:
    """The running devnet's deployment.

    Raises:
        UserFacingError: no devnet is running, or its deployment file is unusable.
    """
    try:
        return Deployment.read(deployment_path())
    except FileNotFoundError:
        raise UserFacingError(
            "The local devnet is not running.", "Start it with: fizz-node devnet chain"
        ) from None
    except DeploymentError as error:
        raise UserFacingError(
            f"The devnet deployment file is unusable: {error}", "Restart: fizz-node devnet chain"
        ) from None


def run_faucet(args: argparse.Namespace) -> int:
    deployment = read_deployment()
    address = args.address or _wallet_address()
    if not Web3.is_address(address):
        raise UserFacingError(f"{address!r} is not an address.", "Pass a 0x-address.")
    w3 = Web3(Web3.HTTPProvider(deployment.rpc_url, request_kwargs={"timeout": 10}))
    eth_wei = _amount(args.eth, 18, "ETH")
    uspon = _amount(args.uspon, 6, "uSPON")
    try:
        fund(w3, deployment, address, eth_wei, uspon)
    except Exception as error:  # connection refused and the like: the chain is not up
        raise UserFacingError(
            f"The local chain at {deployment.rpc_url} did not answer ({type(error).__name__}).",
            "Start it with: fizz-node devnet chain",
        ) from None
    result: dict[str, Any] = {
        "address": Web3.to_checksum_address(address),
        "eth": format(Decimal(eth_wei).scaleb(-18).normalize(), "f"),
        "uspon": format(Decimal(uspon).scaleb(-6).normalize(), "f"),
    }
    emit(
        args.json,
        result,
        f"Sent {result['eth']} ETH and {result['uspon']} uSPON to {result['address']}.",
    )
    return 0


def _port_range(text: str) -> range:
    first, sep, last = text.partition("-")
    try:
        start, end = int(first), int(last if sep else first)
    except ValueError:
        start, end = 0, -1
    if not 1 <= start <= end <= 65535:
        raise UserFacingError(
            f"{text!r} is not a port range.", "Pass two ports like 20000-20100 (first <= last)."
        )
    return range(start, end + 1)


def _log_to_stderr() -> None:
    """INFO lines of the devnet's own modules on stderr (a supervisor keeps them in a log)."""
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    for name in ("devnet", "gateway_client"):
        logging.getLogger(name).setLevel(logging.INFO)


def run_gateway(args: argparse.Namespace) -> int:
    _log_to_stderr()
    if not 0 < args.port < 65536:
        raise UserFacingError("The port must be 1-65535.", "Check --port.")
    if not 0 <= args.api_port < 65536:
        raise UserFacingError("The tenant API port must be 0-65535.", "Check --api-port.")
    if not math.isfinite(args.lease_grace) or args.lease_grace < 0:
        raise UserFacingError(
            f"--lease-grace {args.lease_grace:g} is not a number of seconds.",
            "Pass 0 or more, like 300.",
        )
    public_ports = _port_range(args.public_ports)
    try:
        public_host = public_host_for(args.host, args.public_host)
    except ValueError:
        raise UserFacingError(
            f"--host {args.host} listens on every address, which nodes and tenants cannot dial.",
            "Pass --public-host with the address (IP or DNS name) they reach this machine at.",
        ) from None
    deployment = read_deployment()
    if deployment.rpc_url is None:
        raise UserFacingError(
            "The devnet deployment file names no RPC address.", "Restart: fizz-node devnet chain"
        )
    chain = ChainClient(load_network("devnet", paths.data_dir()), paths.data_dir())
    try:
        chain.verify_chain()
    except ChainError as error:
        raise UserFacingError(
            f"The local chain does not answer: {error.message}",
            "Start it with: fizz-node devnet chain",
        ) from None
    # The certificate names the published address: that is what nodes dial (and pin).
    certificate = None if args.no_tls else kept_certificate(gateway_tls_path(), public_host)
    server = GatewayServer(
        AsyncChainClient(chain),
        deployment.gateway_provider_id,
        host=args.host,
        port=args.port,
        api_port=args.api_port,
        public_host=public_host,
        lease_grace=args.lease_grace,
        public_ports=public_ports,
        certificate=certificate,
        state_path=gateway_state_path(),
    )
    market = not args.no_market
    if market and not 0 < args.settle_every <= 60:
        raise UserFacingError(
            f"--settle-every {args.settle_every:g} is not a number of seconds.",
            "Pass a number from 0.1 to 60, like 2.",
        )
    return asyncio.run(
        _serve_gateway(
            server, chain.w3, deployment, settle_every=args.settle_every if market else 0
        )
    )


def _market_tasks(
    server: GatewayServer, w3: Web3, deployment: Deployment, settle_every: float
) -> list[asyncio.Task[None]]:
    """The gateway's bidding agent and settlement (devnet/market), as tasks of its loop."""
    from devnet.chain.accounts import gateway_account
    from devnet.market.bidding import BiddingAgent
    from devnet.market.settlement import Settlement

    agent = BiddingAgent(w3, deployment, server.sessions, gateway_account())
    settlement = Settlement(w3, deployment, server, tick=settle_every)
    return [
        asyncio.create_task(agent.run(), name="bidding-agent"),
        asyncio.create_task(settlement.run(), name="settlement"),
    ]


async def _serve_gateway(
    server: GatewayServer, w3: Web3, deployment: Deployment, *, settle_every: float = 0
) -> int:
    tasks: list[asyncio.Task[None]] = []
    try:
        await server.start()
    except OSError as error:
        api = server.tenant_api.requested_port if server.tenant_api is not None else None
        raise UserFacingError(
            f"The gateway cannot listen on {server.host} port {server.requested_port} or "
            f"tenant API port {api}: {error.strerror or error}.",
            "Free the ports, or pass --port and --api-port.",
        ) from None
    try:
        certificate = server.certificate.cert_pem if server.certificate is not None else ""
        try:
            await asyncio.to_thread(
                publish_gateway, w3, deployment, host_uri=server.url, certificate=certificate
            )
        except Exception as error:  # the chain went away, or the gateway cannot pay gas
            raise UserFacingError(
                f"The gateway could not publish its address on chain ({type(error).__name__}).",
                "Check that 'fizz-node devnet chain' is still running, then start again.",
            ) from None
        market = "no market"
        if settle_every:
            tasks = _market_tasks(server, w3, deployment, settle_every)
            market = f"bidding for its nodes, settling leases every {settle_every:g} s"
        print(f"Gateway {server.gateway_id} serving nodes at {server.url} (published on chain); "
              f"status at {server.url.replace('ws', 'http', 1)}/status.\n"
              f"Tenants send manifests to {server.api_url}/deployment/<lease>/manifest.\n"
              f"Public lease ports {server.ports.range.start}-{server.ports.range.stop - 1}; "
              f"{market}. Press Ctrl-C to stop.", flush=True)  # fmt: skip
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await stop.wait()
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.stop()
    print("Gateway stopped.", flush=True)
    return 0


def _wallet_address() -> str:
    meta = paths.data_dir() / "wallet.json"
    try:
        return str(json.loads(meta.read_text())["address"])
    except (OSError, ValueError, KeyError):
        raise UserFacingError(
            "No address given and this node has no wallet.",
            "Pass an address, or create a wallet: fizz-node wallet create",
        ) from None


__all__ += ["USPON_UNIT"]


def run_jobs_benchmark(args: argparse.Namespace) -> int:
    """``fizz-node bench jobs ...``: the same as ``python benchmarks/jobs.py ...``."""
    from benchmarks.jobs import run

    return run(args)


def run_node_benchmark(args: argparse.Namespace) -> int:
    """``fizz-node bench node ...``: the same as ``python benchmarks/node_idle.py ...``."""
    from benchmarks.node_idle import run

    return run(args)


def run_tunnel_benchmark(args: argparse.Namespace) -> int:
    """``fizz-node bench tunnel ...``: the same as ``python benchmarks/tunnel.py ...``."""
    from benchmarks.tunnel import run

    return run(args)


def run_market(args: argparse.Namespace) -> int:
    """``fizz-node devnet market``: the matchmaker, until Ctrl-C."""
    from devnet.market.matchmaker import Matchmaker

    _log_to_stderr()

    deployment = read_deployment()
    w3 = Web3(Web3.HTTPProvider(deployment.rpc_url, request_kwargs={"timeout": 10}))
    if not w3.is_connected():
        raise UserFacingError(
            f"The local chain at {deployment.rpc_url} does not answer.",
            "Start it with: fizz-node devnet chain",
        )
    matchmaker = Matchmaker(w3, deployment, bid_window=args.bid_window)

    async def serve() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        task = asyncio.create_task(matchmaker.run())
        print(
            f"Matchmaker matching orders on {deployment.rpc_url} as {deployment.settler} "
            f"(bids collected for {args.bid_window:g} s). Press Ctrl-C to stop.",
            flush=True,
        )
        await stop.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        print("Matchmaker stopped.", flush=True)
        return 0

    if not 0 <= args.bid_window <= 600:
        raise UserFacingError("--bid-window must be 0-600 seconds.", "Pass e.g. 2.")
    return asyncio.run(serve())


def run_up(args: argparse.Namespace) -> int:
    """``fizz-node devnet up``: see :mod:`devnet.up`."""
    from devnet.up import run

    return run(args)


def run_tenant(args: argparse.Namespace) -> int:
    """``fizz-node devnet tenant``: see :mod:`devnet.tenant`."""
    from devnet.tenant import run

    return run(args)
