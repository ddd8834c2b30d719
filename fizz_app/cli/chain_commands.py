"""``fizz-node register | status | rewards claim | earnings withdraw``: the node on chain."""

from __future__ import annotations

import argparse
import re
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..core import paths
from ..core.config import NodeSettings, SettingsStore
from ..core.errors import UserFacingError
from .output import emit
from .wallet_commands import open_wallets, unlock_wallet

if TYPE_CHECKING:
    from ..core.chain import ChainClient, ChainStatus
    from ..core.transactions import SentTx

# The chain, hardware and spec modules are imported inside the commands that use them: web3
# alone costs about half a second, which every other ``fizz-node`` command should not pay.

__all__ = ["add_parsers"]

REGION_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,31}$")


def add_network_arguments(parser: argparse.ArgumentParser) -> None:
    """``--network`` and ``--rpc-url``, shared by every command that talks to a chain."""
    parser.add_argument(
        "--network",
        metavar="NAME",
        help="devnet, base-sepolia or base (default: the one in your settings)",
    )
    parser.add_argument("--rpc-url", metavar="URL", help="use this RPC endpoint instead")
    parser.add_argument("--json", action="store_true", help="print JSON")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    register = sub.add_parser(
        "register",
        help="register this machine on chain as a Fizz node",
        description="Register the wallet as a Fizz node linked to a gateway, with a spec built "
        "from this machine's hardware, then claim its CPU (and GPU) resources.",
    )
    register.add_argument("--region", help="region code, e.g. us-east, india (saved)")
    register.add_argument("--gateway", type=int, metavar="ID", help="gateway provider id (saved)")
    add_network_arguments(register)
    register.set_defaults(handler=register_node)

    status = sub.add_parser(
        "status", help="registration, rewards, earnings and balances of this node"
    )
    add_network_arguments(status)
    status.set_defaults(handler=show_status)

    rewards = sub.add_parser("rewards", help="era rewards").add_subparsers(
        dest="rewards_command", metavar="ACTION", required=True
    )
    claim = rewards.add_parser("claim", help="claim pending rewards (paid in SPON)")
    add_network_arguments(claim)
    claim.set_defaults(handler=claim_rewards)

    earnings = sub.add_parser("earnings", help="lease earnings").add_subparsers(
        dest="earnings_command", metavar="ACTION", required=True
    )
    withdraw = earnings.add_parser("withdraw", help="withdraw lease earnings to the wallet")
    withdraw.add_argument(
        "--amount", default="all", help="amount in whole tokens, or 'all' (default)"
    )
    withdraw.add_argument("--token", help="token address (default: uSPON)")
    add_network_arguments(withdraw)
    withdraw.set_defaults(handler=withdraw_earnings)


# ---- Helpers ------------------------------------------------------------------------------------


def _client(args: argparse.Namespace) -> ChainClient:
    from ..core.chain import ChainClient
    from ..core.networks import load_network

    settings = SettingsStore(paths.settings_path()).load()
    name = args.network or settings.network
    # The saved custom endpoint belongs to the saved network only.
    saved_rpc = settings.rpc_url if name == settings.network else None
    network = load_network(name, paths.data_dir(), rpc_url=args.rpc_url or saved_rpc)
    return ChainClient(network, paths.data_dir())


def _print(args: argparse.Namespace, data: dict[str, Any], lines: list[str]) -> None:
    emit(args.json, data, "\n".join(lines))


def _tx(sent: SentTx, client: ChainClient) -> dict[str, Any]:
    return {
        "hash": sent.hash,
        "block": sent.block_number,
        "explorer": client.network.explorer_tx_url(sent.hash),
    }


# ---- Commands -----------------------------------------------------------------------------------


def register_node(args: argparse.Namespace) -> int:
    from ..core.hardware import probe_hardware
    from ..core.offer import offer_from_report, os_id
    from ..core.spec import NodeSpec, build_spec

    store = SettingsStore(paths.settings_path())
    settings = store.load()
    region = args.region or settings.node.region
    if not region or not REGION_PATTERN.match(region):
        raise UserFacingError(
            "Choose the region this machine is in."
            if not region
            else f"{region!r} is not a region code.",
            "Pass --region with the network's code for it, e.g. --region us-east or "
            "--region india.",
        )
    client = _client(args)
    gateway = args.gateway or settings.node.gateway_id or client.network.default_gateway_id
    if gateway is None:
        raise UserFacingError(
            "Choose the gateway this node connects through.", "Pass --gateway with its id."
        )
    wallets = open_wallets(args)
    signer = unlock_wallet(wallets)
    report = probe_hardware(settings.effective_storage_dir(paths.data_dir()))
    offer = offer_from_report(report)
    spec = build_spec(
        NodeSpec(
            os=os_id(report),
            node_type="gpu" if offer.gpu_units else "cpu",
            cpu_units=offer.cpu_units,
            memory_gb=offer.memory_gb,
            storage_gb=offer.storage_gb,
            gpu_model=offer.gpu_model,
            gpu_units=offer.gpu_units,
            region=region,
            bandwidth="NA",
            arch=report.cpu.arch,
            client_version=__version__,
        )
    )
    client.verify_chain()
    payment_tokens = (
        [client.network.address("USPON")] if "USPON" in client.network.contracts else []
    )
    fizz_id, sent = client.register(
        signer,
        provider_id=gateway,
        spec=spec,
        payment_tokens=payment_tokens,
        reward_wallet=wallets.reward_address() or signer.address,
    )
    store.update(node=NodeSettings(region=region, gateway_id=gateway).model_dump())
    transactions = {"register": _tx(sent, client)}
    cpu_ids = client.resource_ids("CPU")
    if offer.cpu_resource in cpu_ids:
        attrs = client.submit_attributes(
            signer, "CPU", [cpu_ids[offer.cpu_resource]], [offer.cpu_units]
        )
        transactions["cpu_attributes"] = _tx(attrs, client)
    if offer.gpu_units:
        gpu_ids = client.resource_ids("GPU")
        if offer.gpu_model in gpu_ids:
            attrs = client.submit_attributes(signer, "GPU", [gpu_ids[offer.gpu_model]], [1])
            transactions["gpu_attributes"] = _tx(attrs, client)
    _print(
        args,
        {"fizz_id": fizz_id, "spec": spec, "gateway": gateway, "transactions": transactions},
        [
            f"Registered as Fizz node {fizz_id} on {client.network.title}, "
            f"linked to gateway {gateway}.",
            f"Spec: {spec}",
            *(f"{name}: {tx['hash']}" for name, tx in transactions.items()),
        ],
    )
    return 0


def _status_lines(status: ChainStatus) -> list[str]:
    lines = [f"Wallet {status.address} on {status.network} (chain {status.chain_id})"]
    balances = ", ".join(str(t) for t in (status.balances.gas, *status.balances.tokens))
    lines.append(f"  Balances:  {balances}")
    if status.registration is None:
        lines.append("  Not registered: run 'fizz-node register --region <code>'.")
        return lines
    reg = status.registration
    lines.append(
        f"  Fizz node {reg.fizz_id}: {reg.status_name}, gateway {reg.provider_id}, "
        f"reward wallet {reg.reward_wallet}"
    )
    if status.rewards is not None:
        rewards = status.rewards
        lines.append(
            f"  Era {rewards.current_era}: pending {rewards.pending}, per era {rewards.per_era}, "
            f"total {rewards.accumulated}"
        )
    for item in status.earnings:
        lines.append(
            f"  Lease earnings: {item.balance} to withdraw ({item.earned} earned, "
            f"{item.withdrawn} withdrawn)"
        )
    return lines


def show_status(args: argparse.Namespace) -> int:
    wallets = open_wallets(args)
    address = wallets.address()
    if address is None:
        raise UserFacingError(
            "This node has no wallet yet.", "Create one with: fizz-node wallet create"
        )
    client = _client(args)
    settled = client.recheck_pending()
    status = client.status(address)
    _print(
        args,
        {**status.to_dict(), "settled_transactions": settled},
        [*settled, *_status_lines(status)],
    )
    return 0


def claim_rewards(args: argparse.Namespace) -> int:
    client = _client(args)
    signer = unlock_wallet(open_wallets(args))
    before = client.rewards(signer.address)
    if before.pending.raw == 0:
        raise UserFacingError(
            "There are no pending rewards to claim.",
            "Rewards are added each era while the node is online.",
        )
    sent = client.claim_rewards(signer)
    _print(
        args,
        {"claimed": before.pending.to_dict(), "transaction": _tx(sent, client)},
        [f"Claimed {before.pending} in transaction {sent.hash}."],
    )
    return 0


def _parse_amount(text: str, decimals: int) -> int:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise UserFacingError(
            f"{text!r} is not an amount.", "Pass --amount as a number like 12.5, or 'all'."
        ) from None
    raw = value.scaleb(decimals)
    if value <= 0 or raw != raw.to_integral_value():
        raise UserFacingError(
            f"{text!r} is not a positive amount with at most {decimals} decimals.",
            "Pass --amount as a number like 12.5, or 'all'.",
        )
    return int(raw)


def withdraw_earnings(args: argparse.Namespace) -> int:
    client = _client(args)
    signer = unlock_wallet(open_wallets(args))
    registration = client.registration(signer.address)
    if registration is None:
        raise UserFacingError("This wallet is not registered as a Fizz node.", "Register it first.")
    token = args.token or client.network.address("USPON")
    (earnings,) = client.earnings(registration.fizz_id, [token])
    amount = (
        earnings.balance.raw
        if args.amount == "all"
        else _parse_amount(args.amount, earnings.balance.decimals)
    )
    if amount == 0 or amount > earnings.balance.raw:
        raise UserFacingError(
            f"There is {earnings.balance} to withdraw.",
            "Withdraw at most that amount." if earnings.balance.raw else "Nothing to do yet.",
        )
    sent = client.withdraw_earnings(signer, registration.fizz_id, token, amount)
    withdrawn = type(earnings.balance)(amount, earnings.balance.decimals, earnings.balance.symbol)
    _print(
        args,
        {"withdrawn": withdrawn.to_dict(), "transaction": _tx(sent, client)},
        [f"Withdrew {withdrawn} in transaction {sent.hash}."],
    )
    return 0
