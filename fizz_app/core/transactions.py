"""Sending transactions safely: EIP-1559 fees, gas with a margin, nonces that survive restarts,
receipts with a timeout, and pending transactions remembered across crashes.

:class:`TxSender` is blocking (web3 is); the engine calls it through ``asyncio.to_thread``.
Every transaction sent is first written to the :class:`PendingTxStore`, so that after a crash
or restart :meth:`TxSender.recheck_pending` finds out what became of it instead of sending it
twice. A send the endpoint refused is forgotten at once; one it did not answer in time
(:class:`SendUnanswered`) may have reached the chain, so it stays remembered until a recheck
finds it mined, or finds its nonce used by another transaction. The last outcomes found are
kept beside the store, so :meth:`TxSender.settle` can tell a caller what became of a transaction
it still counts as pending although another run settled it (the engine's ledger after
``fizz-node status``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import requests
from web3 import Web3
from web3.exceptions import TimeExhausted, TransactionNotFound

from .atomic import write_atomic

__all__ = [
    "Signer",
    "PendingTx",
    "PendingTxStore",
    "SentTx",
    "SendUnanswered",
    "Settlement",
    "TxOutcome",
    "TxSender",
    "GAS_MARGIN",
]

log = logging.getLogger(__name__)

SETTLED_KEPT = 200
"""Outcomes kept in a store's settled log (the newest)."""

GAS_MARGIN = 1.25
"""Gas limit = estimate x this: estimates run against the current state, which can change
slightly before the transaction is mined."""

DEFAULT_PRIORITY_FEE_WEI = 1_000_000_000
"""Tip to the block producer when the node cannot suggest one (1 gwei)."""


class Signer(Protocol):
    """Anything that holds a key: the unlocked wallet, or a test account."""

    @property
    def address(self) -> str: ...

    def sign_transaction(self, transaction: dict[str, Any]) -> bytes:
        """Return the raw signed transaction."""
        ...


@dataclass(frozen=True)
class PendingTx:
    hash: str
    nonce: int
    sender: str
    action: str
    """What the user asked for, in words: ``register``, ``claim rewards``..."""
    sent_at: float
    raw: str = ""
    """The signed transaction (public once broadcast), so a restart can broadcast it again if
    the crash came before the node saw it."""
    memo: dict[str, str] = field(default_factory=dict)
    """What the sender wants to know when it is settled (a claim's amount and token, see
    ``ledger_types.TransferNote``); empty when nothing."""


@dataclass(frozen=True)
class SentTx:
    """A mined transaction."""

    hash: str
    block_number: int
    gas_used: int
    status: int
    """1 success, 0 reverted."""
    receipt: Any


@dataclass(frozen=True)
class TxOutcome:
    """What became of a transaction sent earlier."""

    hash: str
    mined: SentTx | None
    """The mined transaction (``status`` 1 success, 0 reverted; ``receipt`` is ``None`` when it
    comes from the settled log); ``None`` when it was dropped: never mined, and it never will
    be."""
    pending: PendingTx | None
    """The remembered transaction (its action, memo and when it was sent); ``None`` for one
    found only by its receipt."""


@dataclass(frozen=True)
class Settlement:
    """One recheck of a wallet's transactions (:meth:`TxSender.settle`)."""

    settled: tuple[TxOutcome, ...]
    """Mined or dropped since the last recheck (each returned once: it is forgotten)."""
    in_flight: tuple[PendingTx, ...]
    """Still remembered: sent, not mined yet (broadcast again where needed)."""


class SendUnanswered(Exception):
    """Sending ``tx_hash`` got no answer in time: the endpoint may have passed it on to the
    chain, or not. It stays remembered as pending; tell the user it may still go through and
    settle it later with :meth:`TxSender.recheck_pending` (never send it again meanwhile: a
    new transaction would be another payment). The cause (``__cause__``) is the timeout."""

    def __init__(self, tx_hash: str, action: str) -> None:
        super().__init__(f"{action} transaction {tx_hash}: no answer to the send")
        self.tx_hash = tx_hash
        self.action = action


class PendingTxStore:
    """Transactions sent but not yet seen mined, in one JSON file per network; and, in a
    second file beside it (``devnet-pending.json`` -> ``devnet-settled.json``), the outcomes
    of the last :data:`SETTLED_KEPT` settled ones."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.settled_path = path.with_name(f"{path.stem.removesuffix('-pending')}-settled.json")

    def load(self) -> list[PendingTx]:
        """Return the remembered transactions; an unreadable file counts as empty (and is
        logged), because the chain, not this file, is the truth."""
        if not self.path.exists():
            return []
        try:
            rows = json.loads(self.path.read_text(encoding="utf-8"))
            return [PendingTx(**row) for row in rows]
        except (OSError, ValueError, TypeError) as error:
            log.warning("ignoring unreadable pending-transaction file %s: %s", self.path, error)
            return []

    def add(self, tx: PendingTx) -> None:
        self._save([*[p for p in self.load() if p.hash != tx.hash], tx])

    def remove(self, tx_hash: str) -> None:
        remaining = [p for p in self.load() if p.hash != tx_hash]
        if remaining or self.path.exists():
            self._save(remaining)

    def settle(self, tx: PendingTx, mined: SentTx | None) -> None:
        """Forget ``tx`` as pending, keeping its outcome (``mined``, or ``None``: dropped) in
        the settled log for :meth:`outcome`."""
        summary = None
        if mined is not None:
            summary = [mined.block_number, mined.gas_used, mined.status]
        row = {"pending": asdict(tx) | {"raw": ""}, "mined": summary}
        # The log first: a crash in between leaves it pending, to be settled (and logged) again.
        rows = [r for r in self._settled_rows() if r["pending"]["hash"] != tx.hash]
        text = json.dumps([*rows, row][-SETTLED_KEPT:], indent=2) + "\n"
        write_atomic(self.settled_path, text.encode("utf-8"))
        self.remove(tx.hash)

    def outcome(self, tx_hash: str) -> TxOutcome | None:
        """What became of ``tx_hash`` when a recheck settled it; ``None`` when the log does
        not hold it."""
        for row in self._settled_rows():
            if row["pending"]["hash"].lower() == tx_hash.lower():
                try:
                    pending = PendingTx(**row["pending"])
                    mined = None
                    if row["mined"] is not None:
                        block, gas, status = (int(value) for value in row["mined"])
                        mined = SentTx(pending.hash, block, gas, status, None)
                except (TypeError, ValueError) as error:
                    log.warning("ignoring unreadable settled transaction %s: %s", tx_hash, error)
                    return None
                return TxOutcome(pending.hash, mined, pending)
        return None

    def _settled_rows(self) -> list[dict[str, Any]]:
        if not self.settled_path.exists():
            return []
        try:
            rows = json.loads(self.settled_path.read_text(encoding="utf-8"))
            return [row for row in rows if isinstance(row.get("pending", {}).get("hash"), str)]
        except (OSError, ValueError, TypeError, AttributeError) as error:
            log.warning("ignoring unreadable settled-transaction file: %s", error)
            return []

    def _save(self, rows: list[PendingTx]) -> None:
        text = json.dumps([asdict(row) for row in rows], indent=2) + "\n"
        write_atomic(self.path, text.encode("utf-8"))


class TxSender:
    """Builds, signs, sends and waits for transactions of one chain.

    Args:
        w3: a connected Web3.
        chain_id: the chain's id (checked by the caller before sending anything).
        store: where pending transactions are remembered.
        receipt_timeout: seconds to wait for a receipt before giving up (the transaction stays
            remembered and is re-checked later).
        clock: returns Unix time; injected for tests.
    """

    def __init__(
        self,
        w3: Web3,
        chain_id: int,
        store: PendingTxStore,
        *,
        receipt_timeout: float = 120.0,
        poll_interval: float = 0.2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._w3 = w3
        self._chain_id = chain_id
        self._store = store
        self._receipt_timeout = receipt_timeout
        self._poll_interval = poll_interval
        self._clock = clock

    # ---- Public API

    def send(
        self,
        signer: Signer,
        call: Any,
        action: str,
        *,
        value: int = 0,
        memo: Mapping[str, str] | None = None,
    ) -> SentTx:
        """Send contract call ``call`` (a web3 ``ContractFunction`` with its arguments) signed by
        ``signer`` and wait for it to be mined. ``memo`` is remembered with it while it is
        pending and comes back with its outcome (:meth:`settle`).

        Raises:
            web3 and eth-tester exceptions for reverts during gas estimation, RPC failures and
            missing funds: the chain client turns them into :class:`ChainError`.
            SendUnanswered: the send itself timed out (still remembered as pending).
            TimeExhausted: not mined within ``receipt_timeout`` (still remembered as pending).
        """
        sender = Web3.to_checksum_address(signer.address)
        self._resend_remembered(sender)
        base: dict[str, Any] = {"from": sender, "value": value, "chainId": self._chain_id}
        estimate = call.estimate_gas(base)
        transaction = call.build_transaction(
            {
                **base,
                **self._fees(),
                "gas": int(estimate * GAS_MARGIN) + 10_000,
                "nonce": self.next_nonce(sender),
            }
        )
        raw = signer.sign_transaction(transaction)
        tx_hash = Web3.keccak(raw).to_0x_hex()
        # Remember it before it leaves: a crash between send and receipt must not lose it.
        pending = PendingTx(
            tx_hash,
            transaction["nonce"],
            sender,
            action,
            self._clock(),
            "0x" + raw.hex(),
            dict(memo or {}),
        )
        self._store.add(pending)
        try:
            self._w3.eth.send_raw_transaction(raw)
        except Exception as error:
            if _maybe_delivered(error):
                # The request went out and no answer came back: the node may have taken it.
                # Forgetting it now could hide a payment that still goes through; a recheck
                # finds it mined, or dropped once its nonce is used by another.
                log.warning(
                    "%s transaction %s (nonce %d): no answer to the send; kept as pending",
                    action,
                    tx_hash,
                    transaction["nonce"],
                )
                raise SendUnanswered(tx_hash, action) from error
            # Refused outright (no funds, bad nonce, endpoint down): it will never be mined,
            # and remembering it would make later transactions skip its nonce.
            self._store.remove(tx_hash)
            raise
        log.info("sent %s transaction %s (nonce %d)", action, tx_hash, transaction["nonce"])
        return self.wait(tx_hash)

    def wait(self, tx_hash: str) -> SentTx:
        """Wait for ``tx_hash`` to be mined; forget it as pending once it is."""
        receipt = self._w3.eth.wait_for_transaction_receipt(
            tx_hash,  # type: ignore[arg-type]
            timeout=self._receipt_timeout,
            poll_latency=self._poll_interval,
        )
        mined = _mined(tx_hash, receipt)
        for pending in self._store.load():
            if pending.hash == tx_hash:
                self._store.settle(pending, mined)
        return mined

    def next_nonce(self, sender: str) -> int:
        """The next nonce: the chain's pending count, or past our own remembered transactions
        when the node has not seen them yet (a restart right after sending)."""
        chain_nonce = int(self._w3.eth.get_transaction_count(sender, "pending"))  # type: ignore[arg-type]
        ours = [p.nonce + 1 for p in self.remembered(sender)]
        return max([chain_nonce, *ours])

    def remembered(self, sender: str | None = None) -> list[PendingTx]:
        """The transactions still remembered as pending (of ``sender`` when given); reads the
        local store only, never the chain."""
        return [p for p in self._store.load() if sender is None or _same(p.sender, sender)]

    def recheck_pending(self, sender: str | None = None) -> list[tuple[PendingTx, SentTx | None]]:
        """Look up every remembered transaction (of ``sender`` when given) once.

        Returns:
            ``(pending, mined)`` pairs for transactions that are settled: ``mined`` is the
            outcome, or ``None`` when the transaction was dropped (its nonce was used by
            another). Transactions still in flight stay remembered and are not returned.
        """
        settled: list[tuple[PendingTx, SentTx | None]] = []
        for pending in self.remembered(sender):
            try:
                receipt = self._w3.eth.get_transaction_receipt(pending.hash)  # type: ignore[arg-type]
            except TransactionNotFound:
                receipt = None
            if receipt is not None:
                mined = _mined(pending.hash, receipt)
                self._store.settle(pending, mined)
                settled.append((pending, mined))
                continue
            mined_nonce = int(self._w3.eth.get_transaction_count(pending.sender, "latest"))  # type: ignore[arg-type]
            if mined_nonce > pending.nonce:
                log.warning("transaction %s (%s) was dropped", pending.hash, pending.action)
                self._store.settle(pending, None)
                settled.append((pending, None))
            elif pending.raw:
                self._rebroadcast(pending)
        return settled

    def settle(self, sender: str, also: Sequence[str] = ()) -> Settlement:
        """Recheck ``sender``'s remembered transactions (:meth:`recheck_pending`), and find
        out about each hash in ``also`` that is no longer remembered: one the caller still
        counts as pending although another run (``fizz-node status``, or a recheck whose
        result was lost) settled it. Its outcome comes from the settled log, else from its
        receipt; a hash with neither is left out (it may belong to another network's store,
        or its record was lost): it is never guessed dropped.
        """
        outcomes = [TxOutcome(p.hash, mined, p) for p, mined in self.recheck_pending(sender)]
        in_flight = self.remembered(sender)
        known = {p.hash.lower() for p in self._store.load()}
        known |= {outcome.hash.lower() for outcome in outcomes}
        for tx_hash in dict.fromkeys(h.lower() for h in also):
            if tx_hash not in known:
                found = self._store.outcome(tx_hash) or self._lookup(tx_hash)
                if found is not None:
                    outcomes.append(found)
        return Settlement(tuple(outcomes), tuple(in_flight))

    def _lookup(self, tx_hash: str) -> TxOutcome | None:
        """The outcome of a mined transaction by its receipt; ``None`` without one."""
        try:
            receipt = self._w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            return None
        return TxOutcome(tx_hash, _mined(tx_hash, receipt), None)

    def _resend_remembered(self, sender: str) -> None:
        """Broadcast ``sender``'s remembered transactions the chain has not mined yet, before
        a new one takes the nonce after theirs: one that never reached the node (a send that
        timed out) would otherwise hold every later transaction back."""
        mine = [p for p in self.remembered(sender) if p.raw]
        if not mine:
            return
        mined_nonce = int(self._w3.eth.get_transaction_count(sender, "latest"))  # type: ignore[arg-type]
        for pending in mine:
            if pending.nonce >= mined_nonce:
                self._rebroadcast(pending)

    def _rebroadcast(self, pending: PendingTx) -> None:
        # The node may never have received it (a crash right after we remembered it); sending
        # the same signed bytes again is harmless: it has the same hash and nonce.
        try:
            self._w3.eth.send_raw_transaction(bytes.fromhex(pending.raw.removeprefix("0x")))
            log.info("broadcast %s transaction %s again", pending.action, pending.hash)
        except Exception as error:  # "already known" and the like: it is in the node's pool
            log.debug("re-broadcast of %s not needed: %s", pending.hash, error)

    # ---- Private API

    def _fees(self) -> dict[str, int]:
        latest = self._w3.eth.get_block("latest")
        base_fee = int(latest.get("baseFeePerGas") or 0)
        try:
            priority = int(self._w3.eth.max_priority_fee)
        except Exception:  # not every node implements eth_maxPriorityFeePerGas
            priority = DEFAULT_PRIORITY_FEE_WEI
        # Room for the base fee to double before the transaction is mined (EIP-1559 practice).
        return {"maxFeePerGas": 2 * base_fee + priority, "maxPriorityFeePerGas": priority}


def _same(a: str, b: str) -> bool:
    return a.lower() == b.lower()


def _mined(tx_hash: str, receipt: Any) -> SentTx:
    return SentTx(
        tx_hash,
        int(receipt["blockNumber"]),
        int(receipt["gasUsed"]),
        int(receipt["status"]),
        receipt,
    )


def _maybe_delivered(error: BaseException) -> bool:
    """True when a send failed without an answer after the request may have gone out: a read
    timeout (requests' ``Timeout`` or the standard ``TimeoutError``). A connect timeout, a
    refused connection or an error answer mean the node never took the transaction."""
    if isinstance(error, requests.ConnectTimeout):
        return False
    return isinstance(error, requests.Timeout | TimeoutError)


__all__ += ["TimeExhausted"]
