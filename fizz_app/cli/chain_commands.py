"""``fizz-node register | status | rewards claim | earnings withdraw``: the node on chain.

When the RPC endpoint refuses connections or does not answer within its timeout, each command
fails with a message naming the endpoint (credentials and keys masked) and how to fix it.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..core import paths, registration
from ..core.config import SettingsStore
from ..core.errors import UserFacingError
from .output import emit
from .wallet_commands import open_wallets, unlock_wallet

if TYPE_CHECKING:
    from ..core.chain import ChainClient, ChainStatus

# The chain and hardware modules are imported inside the commands that use them: web3
# alone costs about half a second, which every other ``fizz-node`` command should not pay.

__all__ = ["add_parsers"]

RPC_REMEDY = (
    "Check that the endpoint is up and reachable from this machine, or pass another one with "
    "--rpc-url URL (or --network NAME)."
)
"""What to do when the RPC endpoint does not answer, in this command line's own terms."""


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


def _names_cli_fixes(handler: Callable[[argparse.Namespace], int]) -> Callable[..., int]:
    """Run ``handler``; an unreachable endpoint's remedy then names this command's options
    (the core's names the app's Settings)."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        from ..core.chain_errors import RpcUnreachableError

        try:
            return handler(args)
        except RpcUnreachableError as error:
            raise RpcUnreachableError(error.message, RPC_REMEDY) from None

    return run


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


# ---- Commands -----------------------------------------------------------------------------------


@_names_cli_fixes
def register_node(args: argparse.Namespace) -> int:
    from ..core.hardware import probe_hardware

    store = SettingsStore(paths.settings_path())
    settings = store.load()
    region = registration.check_region(
        args.region or settings.node.region,
        remedy="Pass --region with the network's code for it, e.g. --region us-east or "
        "--region india.",
    )
    client = _client(args)
    gateway = registration.check_gateway(
        args.gateway or settings.node.gateway_id or client.network.default_gateway_id,
        remedy="Pass --gateway with its id.",
    )
    wallets = open_wallets(args)
    signer = unlock_wallet(wallets)
    data_dir = paths.data_dir()
    report = probe_hardware(settings.effective_storage_dir(data_dir))
    result = registration.register(
        client,
        signer,
        report,
        region=region,
        gateway_id=gateway,
        reward_address=wallets.reward_address(),
        data_dir=data_dir,
        store=store,
    )
    _print(args, result.to_dict(), result.lines())
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


@_names_cli_fixes
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


@_names_cli_fixes
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
        {
            "claimed": before.pending.to_dict(),
            "transaction": registration.SubmittedTx.from_sent(sent, client).to_dict(),
        },
        [f"Claimed {before.pending} in transaction {sent.hash}."],
    )
    return 0


@_names_cli_fixes
def withdraw_earnings(args: argparse.Namespace) -> int:
    client = _client(args)
    signer = unlock_wallet(open_wallets(args))
    result = registration.withdraw(client, signer, amount=args.amount, token=args.token)
    _print(args, result.to_dict(), result.lines())
    return 0
