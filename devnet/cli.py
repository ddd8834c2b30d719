"""``fizz-node devnet ...``: the local network for development, plugged into the CLI through the
``fizz_node.plugins`` entry point (the product itself never imports this package).

- ``fizz-node devnet chain``: start anvil, deploy every contract, write the deployment file that
  ``--network devnet`` reads, and keep running until Ctrl-C (then the file is removed: the
  chain's state is gone with it).
- ``fizz-node devnet faucet [ADDRESS]``: give an address (default: this node's wallet) ETH for
  gas and uSPON.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from web3 import Web3

from devnet.chain.anvil import AnvilError, AnvilProcess
from devnet.chain.deploy import Deployment, DeploymentError, deploy_all
from devnet.chain.faucet import USPON_UNIT, fund
from fizz_app.core import paths
from fizz_app.core.errors import UserFacingError

__all__ = ["add_parsers", "deployment_path"]

DEFAULT_PORT = 8545


def deployment_path() -> Path:
    """Where ``--network devnet`` finds the contracts (see resources/networks/devnet.json)."""
    return paths.data_dir() / "devnet" / "deployment.json"


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``devnet`` command group to ``fizz-node``."""
    devnet = sub.add_parser("devnet", help="the local development network (developers)")
    actions = devnet.add_subparsers(dest="devnet_command", metavar="ACTION", required=True)

    chain = actions.add_parser(
        "chain", help="run a local chain with every contract deployed (until Ctrl-C)"
    )
    chain.add_argument("--port", type=int, default=DEFAULT_PORT, help="RPC port (default 8545)")
    chain.add_argument(
        "--era-seconds", type=int, default=120, help="length of a reward era (default 120)"
    )
    chain.set_defaults(handler=run_chain)

    faucet = actions.add_parser("faucet", help="fund an address with ETH and uSPON")
    faucet.add_argument("address", nargs="?", help="0x-address (default: this node's wallet)")
    faucet.add_argument("--eth", default="10", help="ETH to send (default 10)")
    faucet.add_argument("--uspon", default="1000", help="uSPON to mint (default 1000)")
    faucet.add_argument("--json", action="store_true", help="print JSON")
    faucet.set_defaults(handler=run_faucet)


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


def run_faucet(args: argparse.Namespace) -> int:
    path = deployment_path()
    try:
        deployment = Deployment.read(path)
    except FileNotFoundError:
        raise UserFacingError(
            "The local devnet is not running.", "Start it with: fizz-node devnet chain"
        ) from None
    except DeploymentError as error:
        raise UserFacingError(
            f"The devnet deployment file is unusable: {error}", "Restart: fizz-node devnet chain"
        ) from None
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
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(f"Sent {result['eth']} ETH and {result['uspon']} uSPON to {result['address']}.")
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
