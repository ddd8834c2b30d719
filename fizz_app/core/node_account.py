"""The node's money side, mixed into :class:`fizz_app.core.node.Node`: the earnings ledger
(gateway notices, usage, online time, on-chain rewards and reconciliation) and the intents that
send transactions (register, claim rewards, withdraw lease earnings).

Every chain call and ledger write runs in a worker thread; results reach front ends through the
snapshot's ``earnings`` and the returned result objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Settings
from .errors import UserFacingError
from .jobs.lease_store import LeaseState
from .jobs.leases import LeaseManager
from .ledger import EarningsLedger
from .ledger_types import TxStatus
from .online import OnlineTarget, WalletAccess, default_wallets, find_gateway, unlock_wallet
from .registration import (
    RegistrationResult,
    WithdrawalResult,
    check_gateway,
    check_region,
    register_async,
    wallet_reward_address,
    withdraw_async,
)
from .state import NodeSnapshot

if TYPE_CHECKING:
    from .chain import AsyncChainClient
    from .wallet import UnlockedWallet

__all__ = ["AccountIntents"]

log = logging.getLogger(__name__)


class AccountIntents:
    """Ledger bookkeeping and on-chain intents; the attributes below belong to ``Node``."""

    _settings: Settings
    _snapshot: NodeSnapshot
    _data_dir: Path
    _ledger: EarningsLedger | None
    _manager: LeaseManager | None
    _online_since: float | None
    _target: OnlineTarget | None
    _wallets: WalletAccess | None
    _passphrase: Callable[[], str | None]
    _chain_factory: Callable[[Settings], AsyncChainClient]
    _chain_every: float
    _registered: bool | None
    _error: str | None
    _wake: asyncio.Event

    # Provided by Node.
    check_hardware: Callable[[], Awaitable[Any]]
    update_settings: Callable[..., Awaitable[Settings]]
    _update_status: Callable[[], None]

    # ---- Intents ------------------------------------------------------------------------

    async def register(
        self, region: str | None = None, gateway_id: int | None = None
    ) -> RegistrationResult:
        """Register the wallet on chain as a Fizz node in ``region``, linked to gateway
        ``gateway_id``, and claim this machine's CPU (and GPU) resources; the region and
        gateway are then saved to the settings (published as ``SettingsChanged``).

        ``None`` takes the saved region, and the saved gateway else the network's default.
        Show the result's ``fizz_id`` and transactions; go online with ``start()``.

        Raises:
            UserFacingError: no or a malformed region, no gateway chosen, no wallet or no
                passphrase, the chain unreachable or another network, the gateway unknown,
                the wallet already registered (naming its fizz id), or too little gas money
                (each with its remedy). Nothing is sent when the inputs are wrong.
        """
        settings = self._settings
        region = check_region(region or settings.node.region)
        chain = self._chain_factory(settings)
        gateway = check_gateway(
            gateway_id or settings.node.gateway_id or chain.network.default_gateway_id
        )
        report = self._snapshot.hardware
        if report is None:
            await self.check_hardware()
            report = self._snapshot.hardware
            assert report is not None
        wallets = await self._wallet_access()
        wallet = await unlock_wallet(wallets, self._passphrase())
        try:
            reward = await asyncio.to_thread(wallet_reward_address, wallets)
            result = await register_async(
                chain,
                wallet,
                report,
                region=region,
                gateway_id=gateway,
                reward_address=reward,
                data_dir=self._data_dir,
            )
        finally:
            wallet.close()
        await self.update_settings(node=result.node_settings())
        self._registered = True
        self._error = None
        self._snapshot = self._snapshot.evolve(wallet_address=wallet.address)
        self._update_status()
        self._wake.set()  # a node waiting to go online retries now, not in 15 s
        return result

    async def withdraw_earnings(
        self, amount: str = "all", token: str | None = None
    ) -> WithdrawalResult:
        """Withdraw lease earnings to the node wallet: ``amount`` in whole tokens (``"12.5"``)
        or ``"all"``, of ``token`` (an address; ``None`` is uSPON). Booked in the ledger.

        Raises:
            UserFacingError: no wallet, not registered, chain unreachable, a malformed amount
                or token, nothing (or less than ``amount``) to withdraw (the message says how
                much there is), or too little gas money.
        """
        async with self._wallet_and_chain() as (wallet, chain):
            result = await withdraw_async(chain, wallet, amount=amount, token=token)
        if self._ledger is not None:
            await asyncio.to_thread(
                self._ledger.record_withdrawal,
                result.transaction.hash,
                result.amount.raw,
                token=result.amount.symbol,
                decimals=result.amount.decimals,
                status=TxStatus.from_receipt(result.transaction.status),
            )
            await self._refresh_earnings()
        return result

    # ---- Chain watch --------------------------------------------------------------------

    async def _watch_chain(self, target: OnlineTarget) -> None:
        """While online, every minute: era rewards and on-chain lease earnings into the
        ledger (its reconciliation tells the user whether the two agree)."""
        chain = self._chain_factory(self._settings)
        registration = target.registration
        while True:
            try:
                rewards = await chain.rewards(target.wallet.address)
                earnings = await asyncio.to_thread(
                    chain.client.earnings,
                    registration.fizz_id,
                    list(registration.payments_accepted),
                )
                if self._ledger is not None:
                    await asyncio.to_thread(self._ledger.record_rewards, rewards)
                    await asyncio.to_thread(self._ledger.reconcile, earnings)
                await self._refresh_earnings()
            except UserFacingError as error:  # the chain is unreachable: try again later
                log.info("chain check skipped: %s", error)
            await asyncio.sleep(self._chain_every)

    async def claim_rewards(self) -> str:
        """Claim the era rewards on chain (paid in SPON); returns the transaction hash.

        Raises:
            UserFacingError: no wallet, chain unreachable, nothing to claim (the chain's
                reason), or not enough gas.
        """
        async with self._wallet_and_chain() as (wallet, chain):
            rewards = await chain.rewards(wallet.address)
            sent = await chain.claim_rewards(wallet)
        if self._ledger is not None:
            await asyncio.to_thread(
                self._ledger.record_claim,
                sent.hash,
                rewards.pending.raw,
                status=TxStatus.from_receipt(sent.status),
            )
            await self._refresh_earnings()
        return sent.hash

    @contextlib.asynccontextmanager
    async def _wallet_and_chain(self) -> AsyncIterator[tuple[UnlockedWallet, AsyncChainClient]]:
        """The live session's wallet, or one unlocked for this action only."""
        chain = self._chain_factory(self._settings)
        if self._target is not None:
            yield self._target.wallet, chain
            return
        target = await find_gateway(lambda: chain, await self._wallet_access(), self._passphrase())
        try:
            yield target.wallet, chain
        finally:
            target.wallet.close()

    async def _wallet_access(self) -> WalletAccess:
        if self._wallets is None:
            self._wallets = await asyncio.to_thread(default_wallets, self._data_dir)
        return self._wallets

    # ---- Ledger -------------------------------------------------------------------------

    def _earned(self, lease_id: str, amount: str, token: str) -> None:
        log.info("lease %s: the gateway credits %s %s so far", lease_id, amount, token)
        ledger = self._ledger
        if ledger is None:
            return

        async def book() -> None:
            try:
                await asyncio.to_thread(ledger.record_lease_earnings, lease_id, amount, token)
            except ValueError as error:  # a malformed notice: keep it out of the books
                log.warning("earnings notice for lease %s not booked: %s", lease_id, error)
            await self._refresh_earnings()

        asyncio.create_task(book(), name=f"book-{lease_id}")

    async def _refresh_earnings(self) -> None:
        ledger = self._ledger
        if ledger is None:
            return
        lifetime = await asyncio.to_thread(ledger.lifetime)
        checks = await asyncio.to_thread(ledger.latest_reconciliation)
        self._snapshot = self._snapshot.evolve(
            earnings={
                "lifetime": {
                    token: {
                        "decimals": total.decimals,
                        "lease_earnings": str(total.lease_earnings),
                        "rewards": str(total.rewards),
                        "claimed": str(total.claimed),
                        "withdrawn": str(total.withdrawn),
                    }
                    for token, total in lifetime.items()
                },
                "chain": [check.summary() for check in checks],
            }
        )

    async def _book_running(self, now: float) -> None:
        """Usage of running leases and this session's online time, into the ledger."""
        ledger, manager = self._ledger, self._manager
        if ledger is None or manager is None:
            return
        running = [
            lease for lease in manager.leases(active_only=True) if lease.state is LeaseState.RUNNING
        ]

        def book() -> None:
            for lease in running:
                usage = lease.usage
                ledger.record_usage(
                    lease.lease_id,
                    usage.cpu_seconds,
                    usage.peak_memory_bytes,
                    usage.bytes_in,
                    usage.bytes_out,
                    now,
                )
            if self._online_since is not None:
                ledger.record_online(self._online_since, now)

        await asyncio.to_thread(book)
        await self._refresh_earnings()
