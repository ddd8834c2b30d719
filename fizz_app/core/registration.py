"""Register this machine on chain as a Fizz node, and withdraw its lease earnings.

Both front ends go through here: ``fizz-node register`` and ``fizz-node earnings withdraw``
call the blocking :func:`register` and :func:`withdraw`; the engine
(:class:`~fizz_app.core.node.Node`) awaits :func:`register_async` and :func:`withdraw_async`,
which run the same code in a worker thread so heartbeats and the GUI never wait on the chain.

Registering means: build the on-chain spec string from the hardware report (with the region
at index 7 and the last measured bandwidth bucket, see :mod:`fizz_app.core.spec`), check the
chain and the gateway, send ``FizzRegistry.addFizzNode``, remember the region and gateway in
the settings, then claim the machine's CPU (and GPU) resources in ``FizzAttributeRegistry``.

Every problem the user can fix is a :class:`~fizz_app.core.errors.UserFacingError` whose
remedy says what to do; inputs are checked before any transaction is sent. The chain and
wallet types are only imported for type checking: web3 costs about half a second, which
importing this module (the CLI does at start-up) must not pay.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from .bandwidth import load_measurement
from .config import NodeSettings, SettingsStore
from .errors import UserFacingError
from .ledger_types import parse_units
from .offer import offer_from_report, os_id
from .report import BandwidthInfo, HardwareReport
from .spec import NodeSpec, build_spec

if TYPE_CHECKING:
    from .chain import AsyncChainClient, ChainClient, TokenAmount
    from .transactions import SentTx, Signer

__all__ = [
    "REGION_PATTERN",
    "NO_BANDWIDTH",
    "SubmittedTx",
    "RegistrationResult",
    "WithdrawalResult",
    "check_region",
    "check_gateway",
    "spec_bandwidth",
    "registration_spec",
    "parse_amount",
    "register",
    "withdraw",
    "register_async",
    "withdraw_async",
    "wallet_reward_address",
]

log = logging.getLogger(__name__)

REGION_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,31}$")
"""A region code as the network writes them (``us-east``, ``india``); the same rule as
``NodeSettings.region``."""

NO_BANDWIDTH = "NA"
"""The spec's bandwidth field when the link has not been measured yet."""

REGION_REMEDY = "Choose the network's code for it, e.g. us-east or india."
"""What to do about a missing or malformed region (front ends may word it for their input)."""

GATEWAY_REMEDY = "Choose a gateway by its id."
"""What to do when no gateway is chosen (front ends may word it for their input)."""

AMOUNT_REMEDY = "Pass --amount as a number like 12.5, or 'all'."
"""What to do about a malformed withdrawal amount (the CLI's words, kept as they were)."""

_SPEC_FIELD = re.compile(r"^[A-Za-z0-9_.\-]+$")
_TOKEN_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


# ---- Results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubmittedTx:
    """A mined transaction, as front ends show it."""

    hash: str
    block: int
    explorer: str | None
    """The block explorer's page for it; ``None`` on networks without one (the devnet)."""
    status: int = 1
    """The receipt status: 1 success (the chain client raises on a failed transaction, so a
    result only ever holds successful ones). Book it with ``TxStatus.from_receipt``."""

    @classmethod
    def from_sent(cls, sent: SentTx, client: ChainClient) -> SubmittedTx:
        return cls(
            hash=sent.hash,
            block=sent.block_number,
            explorer=client.network.explorer_tx_url(sent.hash),
            status=sent.status,
        )

    def to_dict(self) -> dict[str, Any]:
        """``hash``, ``block`` and ``explorer``, as ``fizz-node --json`` prints them."""
        return {"hash": self.hash, "block": self.block, "explorer": self.explorer}


@dataclass(frozen=True)
class RegistrationResult:
    """What :func:`register` did."""

    fizz_id: int
    """The node's id in FizzRegistry."""
    spec: str
    """The spec string registered on chain."""
    region: str
    gateway_id: int
    """The gateway (provider id) the node is linked to."""
    network_title: str
    """The network's name for people, e.g. ``Base Sepolia``."""
    transactions: Mapping[str, SubmittedTx] = field(default_factory=dict)
    """By purpose, in the order sent: ``register``, then ``cpu_attributes`` and
    ``gpu_attributes`` when the network knows the machine's CPU and GPU resources."""

    @property
    def register_tx(self) -> SubmittedTx:
        return self.transactions["register"]

    @property
    def attribute_txs(self) -> dict[str, SubmittedTx]:
        """The resource claims (``cpu_attributes``, ``gpu_attributes``) that were sent."""
        return {name: tx for name, tx in self.transactions.items() if name != "register"}

    def node_settings(self) -> dict[str, Any]:
        """The ``node`` settings section to save: ``store.update(node=result.node_settings())``
        (what :func:`register` does itself when given the store)."""
        return NodeSettings(region=self.region, gateway_id=self.gateway_id).model_dump()

    def to_dict(self) -> dict[str, Any]:
        """``fizz_id``, ``spec``, ``gateway`` and ``transactions``, as ``fizz-node register
        --json`` prints them."""
        return {
            "fizz_id": self.fizz_id,
            "spec": self.spec,
            "gateway": self.gateway_id,
            "transactions": {name: tx.to_dict() for name, tx in self.transactions.items()},
        }

    def lines(self) -> list[str]:
        """The result in words, one line each (what ``fizz-node register`` prints)."""
        return [
            f"Registered as Fizz node {self.fizz_id} on {self.network_title}, "
            f"linked to gateway {self.gateway_id}.",
            f"Spec: {self.spec}",
            *(f"{name}: {tx.hash}" for name, tx in self.transactions.items()),
        ]


@dataclass(frozen=True)
class WithdrawalResult:
    """What :func:`withdraw` did."""

    fizz_id: int
    token: str
    """The token's checksummed address."""
    amount: TokenAmount
    """What was withdrawn; book it with ``amount.raw``, ``amount.symbol`` and
    ``amount.decimals``."""
    transaction: SubmittedTx

    def to_dict(self) -> dict[str, Any]:
        """``withdrawn`` and ``transaction``, as ``fizz-node earnings withdraw --json`` prints
        them."""
        return {"withdrawn": self.amount.to_dict(), "transaction": self.transaction.to_dict()}

    def lines(self) -> list[str]:
        """The result in words (what ``fizz-node earnings withdraw`` prints)."""
        return [f"Withdrew {self.amount} in transaction {self.transaction.hash}."]


# ---- Checks -------------------------------------------------------------------------------------


def check_region(region: str | None, *, remedy: str = REGION_REMEDY) -> str:
    """Return ``region`` when it is a region code.

    Args:
        region: the code the user chose (``us-east``...), ``None`` or empty when none was.
        remedy: how the user fixes it in this front end (the CLI names its ``--region``).

    Raises:
        UserFacingError: no region, or not a region code.
    """
    if not region or not REGION_PATTERN.match(region):
        raise UserFacingError(
            "Choose the region this machine is in."
            if not region
            else f"{region!r} is not a region code.",
            remedy,
        )
    return region


def check_gateway(gateway_id: int | None, *, remedy: str = GATEWAY_REMEDY) -> int:
    """Return ``gateway_id`` when one is chosen.

    Pick it before calling: the user's choice, else the saved one, else the network's default
    (``NetworkProfile.default_gateway_id``). Whether that gateway exists is checked on chain by
    :func:`register`, before anything is sent.

    Raises:
        UserFacingError: none chosen, or not a positive id.
    """
    if gateway_id is None:
        raise UserFacingError("Choose the gateway this node connects through.", remedy)
    if gateway_id < 1:
        raise UserFacingError(f"{gateway_id} is not a gateway id.", remedy)
    return gateway_id


def spec_bandwidth(report: HardwareReport, data_dir: Path | None = None) -> str:
    """The spec's bandwidth field: the bucket of the last measurement, else ``"NA"``.

    The measurement saved in ``data_dir`` (:func:`fizz_app.core.bandwidth.load_measurement`)
    comes first, as the newest; otherwise the one ``report`` carries. A stale measurement
    still counts (it is the best figure there is); a bucket that would break the spec string
    is ignored, with a warning in the log.
    """
    candidates: list[BandwidthInfo] = []
    if data_dir is not None:
        candidates.append(load_measurement(data_dir))
    candidates.append(report.bandwidth)
    for info in candidates:
        if not info.measured or not info.bucket:
            continue
        if _SPEC_FIELD.match(info.bucket):
            return info.bucket
        log.warning("ignoring the bandwidth bucket %r: not usable in a spec", info.bucket)
    return NO_BANDWIDTH


def registration_spec(report: HardwareReport, region: str, *, bandwidth: str = NO_BANDWIDTH) -> str:
    """The spec string to register for ``report``'s machine in ``region`` (layout:
    :mod:`fizz_app.core.spec`; index 7 is the region the network reads).

    Raises:
        UserFacingError: the region is not a region code.
        ValueError: a hardware field cannot be written into the spec (a bug in the probe).
    """
    region = check_region(region)
    offer = offer_from_report(report)
    return build_spec(
        NodeSpec(
            os=os_id(report),
            node_type="gpu" if offer.gpu_units else "cpu",
            cpu_units=offer.cpu_units,
            memory_gb=offer.memory_gb,
            storage_gb=offer.storage_gb,
            gpu_model=offer.gpu_model,
            gpu_units=offer.gpu_units,
            region=region,
            bandwidth=bandwidth,
            arch=report.cpu.arch,
            client_version=__version__,
        )
    )


def parse_amount(text: str, decimals: int) -> int:
    """``text`` in whole tokens (``"12.5"``) as base units of a token with ``decimals``.

    Raises:
        UserFacingError: not a number, not positive, or finer than the token's decimals.
    """
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise UserFacingError(f"{text!r} is not an amount.", AMOUNT_REMEDY) from None
    try:
        raw = parse_units(value, decimals)
    except ValueError:  # not finite, negative, or too many decimal places
        raw = 0
    if raw <= 0:
        raise UserFacingError(
            f"{text!r} is not a positive amount with at most {decimals} decimals.",
            AMOUNT_REMEDY,
        )
    return raw


# ---- Registration -------------------------------------------------------------------------------


def register(
    client: ChainClient,
    signer: Signer,
    report: HardwareReport,
    *,
    region: str | None,
    gateway_id: int | None,
    reward_address: str | None = None,
    data_dir: Path | None = None,
    store: SettingsStore | None = None,
) -> RegistrationResult:
    """Register ``signer``'s wallet as a Fizz node linked to gateway ``gateway_id``, then claim
    the machine's CPU (and GPU) resources. Blocking: the engine uses :func:`register_async`.

    Nothing is sent until the region, the gateway, the chain and the registration state have
    been checked. Once the registration is mined the region and gateway are saved to ``store``
    (when given; otherwise save :meth:`RegistrationResult.node_settings` yourself), before the
    resource claims are sent.

    Args:
        client: the chain client of the network to register on.
        signer: the unlocked node wallet (it pays the gas and becomes the node's address).
        report: this machine's hardware report (what the spec and resource claims describe).
        region: the region code (index 7 of the spec).
        gateway_id: the gateway (provider id) to link to; see :func:`check_gateway`.
        reward_address: where era rewards go; ``None`` means the node wallet itself.
        data_dir: the app's data folder, for the last bandwidth measurement
            (:func:`spec_bandwidth`).
        store: the settings to remember the region and gateway in.

    Raises:
        UserFacingError: no or a malformed region, no gateway chosen, settings not writable.
        ChainError: the RPC endpoint serves another chain or does not answer, the gateway does
            not exist, the wallet is already registered (naming its fizz id), too little gas
            money, or any other refusal by the contracts, each in plain words with a remedy.
    """
    region = check_region(region)
    gateway = check_gateway(gateway_id)
    spec = registration_spec(report, region, bandwidth=spec_bandwidth(report, data_dir))
    offer = offer_from_report(report)
    client.verify_chain()
    if "ProviderRegistry" in client.network.contracts:
        client.gateway(gateway)  # ProviderNotFound, in plain words, before any gas is spent
    payment_tokens = (
        [client.network.address("USPON")] if "USPON" in client.network.contracts else []
    )
    fizz_id, sent = client.register(
        signer,
        provider_id=gateway,
        spec=spec,
        payment_tokens=payment_tokens,
        reward_wallet=reward_address or signer.address,
    )
    if store is not None:
        store.update(node=NodeSettings(region=region, gateway_id=gateway).model_dump())
    transactions = {"register": SubmittedTx.from_sent(sent, client)}
    cpu_ids = client.resource_ids("CPU")
    if offer.cpu_resource in cpu_ids:
        attrs = client.submit_attributes(
            signer, "CPU", [cpu_ids[offer.cpu_resource]], [offer.cpu_units]
        )
        transactions["cpu_attributes"] = SubmittedTx.from_sent(attrs, client)
    else:
        log.warning("the network has no CPU resource %r: not claimed", offer.cpu_resource)
    if offer.gpu_units:
        gpu_ids = client.resource_ids("GPU")
        if offer.gpu_model in gpu_ids:
            attrs = client.submit_attributes(signer, "GPU", [gpu_ids[offer.gpu_model]], [1])
            transactions["gpu_attributes"] = SubmittedTx.from_sent(attrs, client)
        else:
            log.warning("the network has no GPU resource %r: not claimed", offer.gpu_model)
    return RegistrationResult(
        fizz_id=fizz_id,
        spec=spec,
        region=region,
        gateway_id=gateway,
        network_title=client.network.title,
        transactions=transactions,
    )


# ---- Withdrawal ---------------------------------------------------------------------------------


def withdraw(
    client: ChainClient, signer: Signer, *, amount: str = "all", token: str | None = None
) -> WithdrawalResult:
    """Withdraw lease earnings of ``signer``'s node to its wallet. Blocking: the engine uses
    :func:`withdraw_async`.

    Args:
        client: the chain client of the node's network.
        signer: the unlocked node wallet.
        amount: ``"all"``, or an amount in whole tokens (``"12.5"``).
        token: the token's address; ``None`` means the network's uSPON.

    Raises:
        UserFacingError: the wallet is not registered, the token address is malformed, the
            amount is not a positive number within the token's decimals, or there is nothing
            (or less than ``amount``) to withdraw; the message says how much there is.
        ChainError: the chain refused or could not be reached, in plain words.
    """
    registration = client.registration(signer.address)
    if registration is None:
        raise UserFacingError("This wallet is not registered as a Fizz node.", "Register it first.")
    if token is not None and not _TOKEN_ADDRESS.match(token):
        raise UserFacingError(
            f"{token!r} is not a token address.",
            "Give the token's 0x address (40 hex digits), or leave it out for uSPON.",
        )
    token = token or client.network.address("USPON")
    (earnings,) = client.earnings(registration.fizz_id, [token])
    balance = earnings.balance
    raw = balance.raw if amount == "all" else parse_amount(amount, balance.decimals)
    if raw == 0 or raw > balance.raw:
        raise UserFacingError(
            f"There is {balance} to withdraw.",
            "Withdraw at most that amount." if balance.raw else "Nothing to do yet.",
        )
    sent = client.withdraw_earnings(signer, registration.fizz_id, earnings.token, raw)
    return WithdrawalResult(
        fizz_id=registration.fizz_id,
        token=earnings.token,
        amount=dataclasses.replace(balance, raw=raw),
        transaction=SubmittedTx.from_sent(sent, client),
    )


# ---- For the engine's event loop ----------------------------------------------------------------


async def register_async(
    chain: AsyncChainClient,
    signer: Signer,
    report: HardwareReport,
    *,
    region: str | None,
    gateway_id: int | None,
    reward_address: str | None = None,
    data_dir: Path | None = None,
    store: SettingsStore | None = None,
) -> RegistrationResult:
    """:func:`register` in a worker thread (same arguments and errors), for the engine.

    The engine passes ``store=None`` and saves :meth:`RegistrationResult.node_settings` through
    its own ``update_settings``, so front ends hear of the change.
    """
    return await asyncio.to_thread(
        functools.partial(
            register,
            chain.client,
            signer,
            report,
            region=region,
            gateway_id=gateway_id,
            reward_address=reward_address,
            data_dir=data_dir,
            store=store,
        )
    )


async def withdraw_async(
    chain: AsyncChainClient, signer: Signer, *, amount: str = "all", token: str | None = None
) -> WithdrawalResult:
    """:func:`withdraw` in a worker thread (same arguments and errors), for the engine."""
    return await asyncio.to_thread(
        functools.partial(withdraw, chain.client, signer, amount=amount, token=token)
    )


def wallet_reward_address(wallets: object) -> str | None:
    """The reward address the user set on the wallet (``WalletManager.reward_address``), or
    ``None`` (rewards then go to the node wallet). Blocking: it reads the wallet's file."""
    getter = getattr(wallets, "reward_address", None)
    if not callable(getter):
        return None
    address = getter()
    return address if isinstance(address, str) and address else None
