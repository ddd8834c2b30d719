"""The parts the engine composes to go online, with their real defaults.

Each factory is injectable into :class:`fizz_app.core.node.Node`; these build the real ones:
the wallet in the OS keyring (or the encrypted keystore), the chain client for the settings'
network, the container and WebAssembly runners, and the node's price for a lease's resources.
:func:`find_gateway` does the chain lookups that precede a login, each failure a
:class:`~fizz_app.core.errors.UserFacingError` that says what to do.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .errors import UserFacingError
from .jobs.manifest import JobManifest

if TYPE_CHECKING:
    from .chain import AsyncChainClient, FizzRegistration, GatewayInfo
    from .config import Settings
    from .jobs.runner import JobRunner
    from .pricing import PriceSheet
    from .wallet import UnlockedWallet

__all__ = [
    "PASSPHRASE_ENV",
    "WalletAccess",
    "OnlineTarget",
    "default_wallets",
    "default_chain",
    "default_runners",
    "env_passphrase",
    "find_gateway",
    "unlock_wallet",
    "ask_per_block",
]

PASSPHRASE_ENV = "FIZZ_WALLET_PASSPHRASE"
"""Where a headless node finds the keystore passphrase when there is no OS keyring."""

GB = 1000**3


class WalletAccess(Protocol):
    """What the engine needs of :class:`fizz_app.core.wallet.WalletManager`."""

    def exists(self) -> bool: ...

    def address(self) -> str | None: ...

    def storage_kind(self) -> str | None: ...

    def unlock(self, passphrase: str | None = None) -> UnlockedWallet: ...


def default_wallets(data_dir: Path) -> WalletAccess:
    from .secrets import open_os_secret_store
    from .wallet import WalletManager

    return WalletManager(data_dir, open_os_secret_store())


def env_passphrase() -> str | None:
    return os.environ.get(PASSPHRASE_ENV) or None


def default_chain(settings: Settings, data_dir: Path) -> AsyncChainClient:
    from .chain import AsyncChainClient, ChainClient
    from .networks import load_network

    network = load_network(settings.network, data_dir, rpc_url=settings.rpc_url)
    return AsyncChainClient(ChainClient(network, data_dir))


def default_runners(data_dir: Path, instance_id: str) -> list[JobRunner]:
    from .jobs.container import ContainerRunner
    from .jobs.wasm import WasmRunner

    # The runner's labels carry the instance id: two nodes on one engine never mix.
    return [ContainerRunner(f"n{instance_id[:16]}"), WasmRunner(data_dir / "leases" / "wasm")]


async def unlock_wallet(wallets: WalletAccess, passphrase: str | None) -> UnlockedWallet:
    """Unlock the node wallet (in a worker thread: a keyring may block on D-Bus). Close it
    when done.

    Raises:
        UserFacingError: no wallet, no passphrase for a keystore wallet, or a wrong one.
    """
    if not await asyncio.to_thread(wallets.exists):
        raise UserFacingError(
            "This node has no wallet yet.",
            "Create or import one (fizz-node wallet create, or the app's Wallet step).",
        )
    if await asyncio.to_thread(wallets.storage_kind) == "keystore" and not passphrase:
        raise UserFacingError(
            "The wallet is in a passphrase-protected file and no passphrase was given.",
            f"Set {PASSPHRASE_ENV} for a headless node, or unlock it in the app.",
        )
    return await asyncio.to_thread(wallets.unlock, passphrase)


@dataclass(frozen=True)
class OnlineTarget:
    wallet: UnlockedWallet
    registration: FizzRegistration
    gateway: GatewayInfo


async def find_gateway(
    make_chain: Callable[[], AsyncChainClient], wallets: WalletAccess, passphrase: str | None
) -> OnlineTarget:
    """Unlock the wallet, check the chain, and find the node's registration and gateway.

    Raises:
        UserFacingError: no wallet, wrong or unreachable chain, not registered, or the
            gateway publishes no usable address (each with its remedy).
    """
    wallet = await unlock_wallet(wallets, passphrase)
    try:
        chain = make_chain()  # after the wallet: its errors are the first to fix
        await chain.verify_chain()
        registration = await chain.registration(wallet.address)
        if registration is None:
            raise UserFacingError(
                f"The wallet {wallet.address} is not registered as a Fizz node on "
                f"{chain.network.name}.",
                "Register it: fizz-node register, or the app's Register step.",
            )
        gateway = await chain.gateway(registration.provider_id)
        if not gateway.host_uri:
            raise UserFacingError(
                f"Gateway {gateway.provider_id} publishes no address to connect to.",
                "Link the node to another gateway.",
            )
    except BaseException:
        wallet.close()
        raise
    return OnlineTarget(wallet, registration, gateway)


def ask_per_block(sheet: PriceSheet | None, job: JobManifest) -> Decimal | None:
    """The node's price for ``job``'s resources, in token base units per block (``None``
    without a price sheet): each resource's per-unit block price times the units asked."""
    if sheet is None:
        return None
    per_block = sheet.per_block()
    asked = {
        "cpu": Decimal(job.cpu_millicores) / 1000,
        "memory": Decimal(job.memory_bytes) / GB,
        "storage": Decimal(job.storage_bytes) / GB,
        "gpu": Decimal(job.gpu_units),
    }
    return sum(
        (per_block.get(name, Decimal(0)) * units for name, units in asked.items()),
        Decimal(0),
    )
