"""Following contract events from an asyncio loop, and sending from the market's accounts.

web3 over HTTP blocks, so every call runs in a worker thread; :class:`EventFeed` keeps the
next block to read, so each event is seen once however often it is polled, and a chain that
stops answering only delays the feed (the blocks not read yet are read on the next poll).

:class:`Sender` never sends a transaction on top of one whose fate it does not know (the
chain stopped answering after it was sent): it looks that one up first, so a caller that
tries the same call again gets the earlier receipt instead of a second transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError
from web3.types import EventData, TxParams, TxReceipt

from devnet.chain.tx import RECEIPT_TIMEOUT_S, TransactionError

__all__ = ["EventFeed", "InDoubtError", "Sender", "call", "reverted"]

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_RANGE = 5000
"""Most blocks read in one ``eth_getLogs`` (anvil answers any range; real nodes cap it)."""
SCAN_BLOCKS = 64
"""How many blocks after a lost ``eth_sendTransaction`` answer are searched for the
transaction (anvil mines each one at once, in the next block)."""


async def call(function: Callable[[], T]) -> T:
    """Run a blocking web3 call in a worker thread."""
    return await asyncio.to_thread(function)


def reverted(error: BaseException) -> bool:
    """True when the chain refused the call itself (it reverts when estimated, or was mined
    and failed): trying again will not help. False for not reaching the chain (refused
    connections, timeouts, :class:`InDoubtError`), which a later try may get past.

    Reverts come as web3's ``ContractLogicError``, a JSON-RPC error saying "execution
    reverted" (a node that sent no revert data), or eth-tester's ``TransactionFailed`` (the
    in-process chain, not imported here).
    """
    if isinstance(error, ContractLogicError | TransactionError):
        return True
    if isinstance(error, Web3RPCError):
        return "execution reverted" in str(error)
    return type(error).__name__ == "TransactionFailed"


class EventFeed:
    """New ``event`` logs of one contract, from block ``from_block`` on.

    ``event`` is a bound event class, e.g. ``contract.events.OrderCreated``; ``max_range`` the
    most blocks read in one request.
    """

    def __init__(
        self, w3: Web3, event: Any, from_block: int, *, max_range: int = MAX_RANGE
    ) -> None:
        self.w3 = w3
        self.event = event
        self.next_block = max(0, from_block)
        self.max_range = max_range

    async def poll(self) -> list[EventData]:
        """The events mined since the last poll, oldest first (empty when the chain is
        unreachable: the same blocks are read next time)."""
        try:
            return await call(self._read)
        except Exception as error:  # connection refused, timeouts: the chain is down for now
            log.warning("reading %s logs failed: %r", self.event.event_name, error)
            return []

    def _read(self) -> list[EventData]:
        latest = int(self.w3.eth.block_number)
        found: list[EventData] = []
        while self.next_block <= latest:
            last = min(latest, self.next_block + self.max_range - 1)
            try:
                found.extend(self.event.get_logs(from_block=self.next_block, to_block=last))
            except Exception as error:
                if not found:
                    raise
                # The ranges read so far are past next_block already: hand their events over
                # now, or they would never be read again.
                log.warning("reading %s logs stopped at block %d: %r",
                            self.event.event_name, self.next_block, error)  # fmt: skip
                break
            self.next_block = last + 1
        return found


class InDoubtError(RuntimeError):
    """An earlier transaction of the sender, whose receipt never came, is not mined yet:
    nothing was sent. Try again later."""


@dataclass
class _Doubt:
    """A transaction sent without a receipt: it may or may not be on the chain."""

    what: str
    to: str
    data: HexBytes
    from_block: int
    tx_hash: HexBytes | None = None
    """Unknown when the answer to ``eth_sendTransaction`` was lost."""


class Sender:
    """Sends transactions from one account, one at a time (so nonces never collide within a
    process): an account the node holds unlocked (the settler on anvil) or a local key.

    When the chain stops answering between sending a transaction and reading its receipt,
    the transaction is *in doubt*: the next :meth:`send` (or :meth:`resolve`) looks it up
    first (by hash; by sender, address and call data in the blocks since, when even the hash
    never came back) and sends nothing while it is still pending or cannot be looked up. If
    it was mined and the next call is the same one (same contract, same call data), that call
    is not sent again: its earlier receipt is the answer. So a caller that retries by sending
    the same call again needs a sender of its own (another caller's next transaction would
    settle the doubt, and the retry would go out a second time); a caller that reads the
    chain again instead calls :meth:`resolve` first.
    """

    def __init__(
        self, w3: Web3, account: Any, *, receipt_timeout: float = RECEIPT_TIMEOUT_S
    ) -> None:
        self.w3 = w3
        self.account = account
        self.receipt_timeout = receipt_timeout
        self._lock = asyncio.Lock()
        self._doubt: _Doubt | None = None

    @property
    def address(self) -> str:
        """The sending address, checksummed."""
        if isinstance(self.account, str):
            return Web3.to_checksum_address(self.account)
        return str(self.account.address)

    @property
    def in_doubt(self) -> bool:
        """True while a transaction sent earlier has no known fate."""
        return self._doubt is not None

    async def send(self, function: Any) -> TxReceipt:
        """Send ``function`` (a bound ``ContractFunction``) and wait for its receipt.

        Raises:
            devnet.chain.tx.TransactionError: it was mined and failed.
            web3.exceptions.ContractLogicError: it reverts (nothing was sent).
            InDoubtError: an earlier transaction is still pending (nothing was sent).
            web3 and requests errors: the chain is down (this transaction, or an earlier one
                being looked up, may be in doubt).
        """
        async with self._lock:
            return await call(lambda: self._send(function))

    async def resolve(self) -> None:
        """Settle the fate of a transaction in doubt, if any: afterwards whatever it changed
        on chain can be read. Raises as :meth:`send` does while that cannot be told."""
        async with self._lock:
            await call(lambda: self._resolve(None))

    def _send(self, function: Any) -> TxReceipt:
        what = f"{function.fn_name} on {function.address}"
        to = Web3.to_checksum_address(function.address)
        data = HexBytes(function._encode_transaction_data())
        earlier = self._resolve((to, data))
        if earlier is not None:
            log.info("%s was mined before (its receipt was lost): not sent again", what)
            return _succeeded(earlier, what)
        eth = self.w3.eth
        if isinstance(self.account, str):
            tx = function.build_transaction({"from": self.address})  # a revert raises here
            doubt = self._doubt = _Doubt(what, to, data, int(eth.block_number))
            try:
                tx_hash = eth.send_transaction(tx)
            except Web3RPCError:  # the node answered, and refused it
                self._doubt = None
                raise
        else:
            params: TxParams = {
                "from": self.address,
                "nonce": eth.get_transaction_count(self.account.address, "pending"),
                "chainId": eth.chain_id,
            }
            tx = function.build_transaction(params)
            signed = self.account.sign_transaction(cast(dict[str, Any], tx))
            # The hash is known before sending: a lost answer is looked up by it.
            doubt = self._doubt = _Doubt(what, to, data, 0, HexBytes(signed.hash))
            tx_hash = eth.send_raw_transaction(signed.raw_transaction)
        doubt.tx_hash = HexBytes(tx_hash)
        receipt = eth.wait_for_transaction_receipt(tx_hash, timeout=self.receipt_timeout)
        self._doubt = None
        return _succeeded(receipt, what)

    def _resolve(self, same: tuple[str, HexBytes] | None) -> TxReceipt | None:
        """Look up the transaction in doubt; its receipt if it was mined and ``same``
        (address, call data) is its call, else None."""
        doubt = self._doubt
        if doubt is None:
            return None
        receipt = self._find(doubt)
        self._doubt = None
        if receipt is None:
            log.warning("%s never reached the chain", doubt.what)
            return None
        log.warning("%s reached the chain after all (block %d)",
                    doubt.what, receipt["blockNumber"])  # fmt: skip
        return receipt if same == (doubt.to, doubt.data) else None

    def _find(self, doubt: _Doubt) -> TxReceipt | None:
        eth = self.w3.eth
        if doubt.tx_hash is not None:
            try:
                return eth.get_transaction_receipt(doubt.tx_hash)
            except TransactionNotFound:
                pass
            try:
                eth.get_transaction(doubt.tx_hash)
            except TransactionNotFound:
                return None  # dropped, or never sent
            raise InDoubtError(
                f"{doubt.what} (transaction {doubt.tx_hash.to_0x_hex()}) is not mined yet"
            )
        latest = int(eth.block_number)
        for number in range(doubt.from_block + 1, min(latest, doubt.from_block + SCAN_BLOCKS) + 1):
            for tx in eth.get_block(number, full_transactions=True)["transactions"]:
                found: Any = tx
                data = found.get("input", found.get("data"))  # "data": eth-tester's name
                if (
                    str(found["from"]).lower() == self.address.lower()
                    and str(found.get("to")).lower() == doubt.to.lower()
                    and HexBytes(data) == doubt.data
                ):
                    return eth.get_transaction_receipt(found["hash"])
        return None


def _succeeded(receipt: TxReceipt, what: str) -> TxReceipt:
    if receipt["status"] != 1:
        tx_hash = Web3.to_hex(receipt["transactionHash"])
        raise TransactionError(f"{what} failed (transaction {tx_hash})")
    return receipt
