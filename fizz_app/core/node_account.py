"""The node's money side, mixed into :class:`fizz_app.core.node.Node`: the earnings ledger
(gateway notices, usage, online time, on-chain rewards and reconciliation) and the intents that
send transactions (register, claim rewards, withdraw lease earnings).

Every chain call and ledger write runs in a worker thread; results reach front ends through the
snapshot's ``earnings`` (and ``chain``: whether the RPC endpoint answers) and the returned result
objects.

A claim or withdrawal whose send got no answer (or was not mined in time) is booked as pending
at once; the chain watch rechecks the wallet's pending transactions on every check while
online (the first one right after going online) and settles each in the ledger, confirmed,
failed or dropped, so the earnings move from pending to final without the user doing anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .chain_health import ChainHealth, call_detached, public_url, scrub
from .config import Settings
from .errors import UserFacingError
from .events import ChainChanged, EarningsChanged, EventBus
from .jobs.lease_store import LeaseState
from .jobs.leases import LeaseManager
from .ledger import EarningsLedger
from .ledger_types import ActivityKind, Period, PeriodTotal, TransferNote, TxStatus
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
    from .chain import (
        AsyncChainClient,
        Balances,
        ChainClient,
        FizzRegistration,
        GatewayInfo,
        RewardsStatus,
        TokenEarnings,
    )
    from .transactions import PendingTx, Settlement
    from .wallet import NewWallet, UnlockedWallet, WalletManager

__all__ = ["AccountIntents", "GatewayChoice", "WalletInfo", "connect_latency_ms"]

log = logging.getLogger(__name__)

RECENT_TRANSFERS = 10
"""Claims and withdrawals in the snapshot's ``earnings["transfers"]`` (newest first), besides
every one still pending."""


@dataclass(frozen=True)
class WalletInfo:
    exists: bool
    address: str | None
    storage: str | None
    """``keyring`` or ``keystore`` (the passphrase-encrypted file), ``None`` without a wallet."""
    reward_address: str | None


@dataclass(frozen=True)
class GatewayChoice:
    provider_id: int
    host_uri: str
    status: int
    latency_ms: float | None
    """TCP connect time from this machine; ``None`` when it did not answer."""


def connect_latency_ms(host_uri: str, timeout: float = 2.0) -> float | None:
    """Milliseconds to open a TCP connection to a gateway's published address (blocking)."""
    parts = urlsplit(host_uri if "://" in host_uri else f"wss://{host_uri}")
    host = parts.hostname
    if not host:
        return None
    try:
        port = parts.port or (443 if parts.scheme == "wss" else 80)
    except ValueError:
        return None
    began = time.perf_counter()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return round((time.perf_counter() - began) * 1000, 1)
    except OSError:
        return None


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
    _passphrase_source: Callable[[], str | None]
    """The passphrase source the node was built with (:meth:`set_passphrase` restores it)."""
    _chain_factory: Callable[[Settings], AsyncChainClient]
    _chain_every: float
    _chain_retry: float
    """Seconds before the first retry of a failed chain check (doubling up to the interval)."""
    _registered: bool | None
    _rewards: RewardsStatus | None
    """The last era rewards read on chain (pending, accumulated, per era)."""
    _error: str | None
    _wake: asyncio.Event
    _bus: EventBus
    _clock: Callable[[], float]
    _tx_lock: asyncio.Lock | None = None
    """Held while an intent sends transactions, and while the chain watch rechecks pending
    ones (created on first use): a recheck broadcasts remembered transactions again, and one
    racing a send of the same bytes would get that send answered "already known", which counts
    as refused and forgets a transaction that will be mined."""

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
            async with self._sending():
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
                much there is), or too little gas money. ``TransactionTimeoutError`` when
                the send got no answer or was not mined in time: it is booked as pending,
                and the chain watch settles it once the chain says what became of it.
        """
        async with self._wallet_and_chain() as (wallet, chain), self._sending():
            try:
                result = await withdraw_async(chain, wallet, amount=amount, token=token)
            except UserFacingError:
                await self._book_in_flight(chain, wallet.address)
                raise
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
        """While online: era rewards and on-chain lease earnings into the ledger (its
        reconciliation tells the user whether the two agree) every ``chain_every`` seconds,
        five times less often while no lease runs.

        After a failed check the next comes sooner (``chain_retry`` seconds, doubling up to the
        normal interval), and the first one the chain answers again books all it gathered
        meanwhile. The snapshot's ``chain`` tells whether the RPC endpoint answers, and
        ``ChainChanged`` when that or the reason changes; ``None`` again once offline.
        """
        chain = self._chain_factory(self._settings)
        health = ChainHealth(public_url(chain.network.rpc_url), first_retry=self._chain_retry)
        try:
            while True:
                try:
                    delay = await self._check_chain(chain, target, health)
                except Exception:  # a bug, not the chain: keep watching at the usual pace
                    log.exception("chain check failed")
                    delay = self._chain_interval()
                await asyncio.sleep(delay)
        finally:
            self._publish_chain(None)

    async def _check_chain(
        self, chain: AsyncChainClient, target: OnlineTarget, health: ChainHealth
    ) -> float:
        """One check: read the chain, book what it says, record the outcome in ``health``;
        returns the seconds to wait before the next."""
        interval = self._chain_interval()
        started = self._clock()
        read = functools.partial(_read_chain, chain.client, target)
        try:
            # A thread of its own: a call to an RPC host that accepts and never answers blocks
            # until the HTTP timeout, and going offline or quitting must not wait for it.
            rewards, earnings = await call_detached(read, "chain-check")
        except UserFacingError as error:
            text = scrub(str(error), chain.network.rpc_url)
            first = health.reachable is not False
            log.log(logging.WARNING if first else logging.INFO, "chain check failed: %s", text)
            delay = health.failed(started, self._clock(), text, interval)
        else:
            if health.reachable is False:
                log.info("the chain answers again; booking what it gathered meanwhile")
            settlement = await self._recheck_transactions(chain, target)
            await self._book_chain(rewards, earnings, settlement)
            delay = health.succeeded(started, self._clock(), interval)
        self._publish_chain(health)
        return delay

    def _chain_interval(self) -> float:
        # Rewards and settlements change slowly while no lease runs: look less often.
        running = any(lease["state"] not in ("closed", "failed") for lease in self._snapshot.leases)
        return self._chain_every if running else self._chain_every * 5

    async def _recheck_transactions(
        self, chain: AsyncChainClient, target: OnlineTarget
    ) -> Settlement | None:
        """What became of the wallet's pending transactions, and of the ledger's pending
        claims and withdrawals; ``None`` when an intent is sending right now or the chain did
        not answer (the next check looks again)."""
        lock = self._sending()
        if lock.locked():
            return None
        async with lock:
            ledger = self._ledger
            unsettled = (
                [] if ledger is None else await asyncio.to_thread(ledger.unsettled_transfers)
            )
            settle = functools.partial(
                chain.client.settle_pending,
                target.wallet.address,
                [transfer.tx_hash for transfer in unsettled],
            )
            try:
                return await call_detached(settle, "transactions-check")
            except UserFacingError as error:
                # Not a reason to hold back what the reads just gathered: what was settled
                # before the failure is looked up again by hash next time.
                text = scrub(str(error), chain.network.rpc_url)
                log.info("pending transactions not rechecked: %s", text)
                return None

    async def _book_chain(
        self,
        rewards: RewardsStatus,
        earnings: tuple[TokenEarnings, ...],
        settlement: Settlement | None = None,
    ) -> None:
        """Everything one check read, into the ledger; then one refresh of the snapshot, so
        a check publishes at most one ``EarningsChanged``."""
        self._rewards = rewards
        ledger = self._ledger
        if ledger is not None:
            if settlement is not None:
                # Before the reconciliation: a withdrawal confirmed now counts in it.
                await asyncio.to_thread(_book_settlement, ledger, settlement)
            await asyncio.to_thread(ledger.record_rewards, rewards)
            await asyncio.to_thread(ledger.reconcile, earnings)
        await self._refresh_earnings()

    async def _book_in_flight(self, chain: AsyncChainClient, address: str) -> None:
        """Book the wallet's claims and withdrawals that were sent and not seen mined as
        pending (after a send that failed: one whose answer was lost may still be mined)."""
        ledger = self._ledger
        if ledger is None:
            return
        try:
            in_flight = await asyncio.to_thread(chain.client.pending_transactions, address)
            if in_flight:
                await asyncio.to_thread(_book_pending, ledger, in_flight)
                await self._refresh_earnings()
        except Exception:  # the caller's error matters more; the chain watch books them later
            log.exception("could not book the pending transactions")

    def _sending(self) -> asyncio.Lock:
        if self._tx_lock is None:
            self._tx_lock = asyncio.Lock()
        return self._tx_lock

    def _publish_chain(self, health: ChainHealth | None) -> None:
        """The chain's state into the snapshot; ``ChainChanged`` only when reachability or
        the reason changed (not for every check that answered)."""
        chain = None if health is None else health.to_dict()
        before = self._snapshot.chain
        self._snapshot = self._snapshot.evolve(chain=chain)
        if _chain_state(before) != _chain_state(chain):
            self._bus.publish(ChainChanged(chain=chain))

    async def claim_rewards(self) -> str:
        """Claim the era rewards on chain (paid in SPON); returns the transaction hash.

        Raises:
            UserFacingError: no wallet, chain unreachable, nothing to claim (the chain's
                reason), or not enough gas. ``TransactionTimeoutError`` when the send got no
                answer or was not mined in time: the claim is booked as pending, and the chain
                watch settles it once the chain says what became of it.
        """
        async with self._wallet_and_chain() as (wallet, chain):
            rewards = await chain.rewards(wallet.address)
            async with self._sending():
                try:
                    sent = await chain.claim_rewards(wallet, amount=rewards.pending)
                except UserFacingError:
                    await self._book_in_flight(chain, wallet.address)
                    raise
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

    async def wallet_info(self) -> WalletInfo:
        """Whether a wallet exists, its address, where its secret is kept, the reward address."""
        wallets = await self._wallet_access()

        def read() -> WalletInfo:
            exists = wallets.exists()
            reward = wallet_reward_address(wallets) if exists else None
            return WalletInfo(exists, wallets.address(), wallets.storage_kind(), reward)

        return await asyncio.to_thread(read)

    async def registration(self) -> FizzRegistration | None:
        """This wallet's registration on chain; ``None`` when it is not registered (or there
        is no wallet yet). The chain is the truth: a wallet registered elsewhere counts.

        Raises:
            UserFacingError: the chain cannot be reached.
        """
        info = await self.wallet_info()
        if not info.exists or info.address is None:
            return None
        found = await self._chain_factory(self._settings).registration(info.address)
        self._registered = found is not None
        return found

    def wallet_needs_passphrase(self) -> bool:
        """True when a new wallet would go to the passphrase-encrypted file (no OS keyring):
        ask the user for a passphrase (8+ characters) before :meth:`create_wallet`."""
        wallets = self._wallets
        return bool(getattr(wallets, "needs_passphrase", False))

    async def create_wallet(self, passphrase: str | None = None) -> NewWallet:
        """Create the node wallet. Show ``mnemonic`` ONCE and have the user confirm some words
        (:func:`fizz_app.core.wallet.challenge_positions`, ``check_confirmation``).

        Raises:
            WalletError: a wallet exists already, or a passphrase is missing or too short.
        """
        wallets = await self._manager_of_wallets()
        created: NewWallet = await asyncio.to_thread(wallets.create, passphrase)
        self._wake.set()
        return created

    async def import_wallet(self, secret: str, passphrase: str | None = None) -> str:
        """Import the node wallet from a 12/24-word recovery phrase or a private key (64 hex
        digits); returns its address.

        Raises:
            WalletError: not a valid phrase or key (the message says which), a wallet exists
                already, or a passphrase is missing or too short.
        """
        wallets = await self._manager_of_wallets()
        text = " ".join(secret.split())
        if len(text.split()) > 1:
            address = await asyncio.to_thread(wallets.import_mnemonic, text, passphrase)
        else:
            address = await asyncio.to_thread(wallets.import_private_key, text, passphrase)
        self._wake.set()
        return str(address)

    async def set_passphrase(self, passphrase: str | None) -> None:
        """Unlock the keystore wallet with ``passphrase`` from now on (register, start, claim),
        for this run only: it is kept in memory, never saved, logged or published. A front end
        calls this after the user typed it (creating, importing or unlocking the wallet) and
        then clears its field. ``None`` or ``""`` goes back to the passphrase source the node
        was built with (the environment, for a headless node).

        When a keystore wallet exists the passphrase is tried first, so a wrong one is refused
        at once and nothing changes.

        Raises:
            WalletError: the passphrase does not unlock the wallet.
        """
        if not hasattr(self, "_passphrase_source"):
            self._passphrase_source = self._passphrase
        if not passphrase:
            self._passphrase = self._passphrase_source
            return
        wallets = await self._wallet_access()
        if await asyncio.to_thread(wallets.exists) and (
            await asyncio.to_thread(wallets.storage_kind) == "keystore"
        ):
            wallet = await unlock_wallet(wallets, passphrase)
            wallet.close()

        def given() -> str:
            return passphrase

        self._passphrase = given
        self._wake.set()  # a node waiting to go online retries with it now

    async def balances(self) -> Balances:
        """The wallet's gas, uSPON and SPON balances on the settings' network.

        Raises:
            UserFacingError: no wallet, or the chain cannot be reached.
        """
        info = await self.wallet_info()
        if not info.exists or info.address is None:
            raise UserFacingError("This node has no wallet yet.", "Create or import one first.")
        return await self._chain_factory(self._settings).balances(info.address)

    async def gateways(self) -> list[GatewayChoice]:
        """The network's gateways with the time a TCP connection to each takes from here
        (``None`` when it does not answer within 2 s), for the registration step."""
        found = await self._chain_factory(self._settings).gateways()

        async def measure(gateway: GatewayInfo) -> GatewayChoice:
            latency = await asyncio.to_thread(connect_latency_ms, gateway.host_uri)
            return GatewayChoice(gateway.provider_id, gateway.host_uri, gateway.status, latency)

        return list(await asyncio.gather(*(measure(gateway) for gateway in found)))

    async def earnings_totals(self, period: str = "day") -> list[PeriodTotal]:
        """Lease earnings and rewards per day, week or month (local time), oldest first."""
        ledger = self._ledger
        if ledger is None:
            return []
        local = datetime.now().astimezone().tzinfo or UTC
        return await asyncio.to_thread(ledger.totals, Period(period), local)

    async def export_earnings_csv(self, path: Path) -> int:
        """Write every ledger entry to ``path`` as CSV (atomically); returns the row count."""
        ledger = self._ledger
        if ledger is None:
            raise UserFacingError("The earnings ledger is not open yet.", "Try again shortly.")
        local = datetime.now().astimezone().tzinfo or UTC
        return await asyncio.to_thread(ledger.export_csv, path, tz=local)

    async def _manager_of_wallets(self) -> WalletManager:
        from .wallet import WalletManager  # eth_account: only when the wallet changes

        wallets = await self._wallet_access()
        if not isinstance(wallets, WalletManager):
            raise UserFacingError("This node's wallet cannot be changed from here.")
        return wallets

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
        earnings = {
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
            "rewards": None if self._rewards is None else self._rewards.to_dict(),
            "transfers": await asyncio.to_thread(_transfers_shown, ledger),
        }
        if earnings != self._snapshot.earnings:
            self._snapshot = self._snapshot.evolve(earnings=earnings)
            self._bus.publish(EarningsChanged(earnings=earnings))

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


def _read_chain(
    client: ChainClient, target: OnlineTarget
) -> tuple[RewardsStatus, tuple[TokenEarnings, ...]]:
    """The node's era rewards and lease earnings on chain (blocking)."""
    registration = target.registration
    rewards = client.rewards(target.wallet.address)
    earnings = client.earnings(registration.fizz_id, list(registration.payments_accepted))
    return rewards, earnings


def _transfers_shown(ledger: EarningsLedger) -> list[dict[str, Any]]:
    """The newest claims and withdrawals and every pending one, newest first (blocking)."""
    shown = ledger.transfers(RECENT_TRANSFERS)
    hashes = {transfer.tx_hash for transfer in shown}
    older = [t for t in ledger.unsettled_transfers() if t.tx_hash not in hashes]
    return [transfer.to_dict() for transfer in [*shown, *older[::-1]]]


def _book_settlement(ledger: EarningsLedger, settlement: Settlement) -> None:
    """Each settled transaction's final status into the ledger, and the wallet's claims and
    withdrawals still in flight as pending (blocking)."""
    for outcome in settlement.settled:
        mined = outcome.mined
        status = TxStatus.DROPPED if mined is None else TxStatus.from_receipt(mined.status)
        pending = outcome.pending
        action = "transaction" if pending is None else f"{pending.action} transaction"
        log.info("%s %s settled on chain: %s", action, outcome.hash, status.value)
        try:
            ledger.set_tx_status(outcome.hash, status)
        except KeyError:
            # Sent by a run that ended before booking it (a crash, or quitting while it was
            # waiting to be mined): its memo says what it moved.
            note = None if pending is None else TransferNote.from_memo(pending.memo)
            if pending is not None and note is not None:
                _record_transfer(ledger, outcome.hash, note, status, pending.sent_at)
    _book_pending(ledger, settlement.in_flight)


def _book_pending(ledger: EarningsLedger, in_flight: Iterable[PendingTx]) -> None:
    """Claims and withdrawals sent and not yet mined, as pending; ones booked already stay as
    they are (blocking)."""
    for pending in in_flight:
        note = TransferNote.from_memo(pending.memo)
        if note is not None:
            _record_transfer(ledger, pending.hash, note, TxStatus.PENDING, pending.sent_at)


def _record_transfer(
    ledger: EarningsLedger, tx_hash: str, note: TransferNote, status: TxStatus, at: float
) -> None:
    record = ledger.record_claim if note.kind is ActivityKind.CLAIM else ledger.record_withdrawal
    record(tx_hash, note.amount, token=note.token, decimals=note.decimals, status=status, at=at)


def _chain_state(chain: dict[str, Any] | None) -> tuple[bool, str | None] | None:
    return None if chain is None else (bool(chain["reachable"]), chain["error"])
