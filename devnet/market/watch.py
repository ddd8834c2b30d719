"""Following contract events from an asyncio loop, and sending from the market's accounts.

web3 over HTTP blocks, so every call runs in a worker thread; :class:`EventFeed` keeps the
next block to read, so each event is seen once however often it is polled, and a chain that
stops answering only delays the feed (the same range is read again on the next poll).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from web3 import Web3
from web3.types import EventData

__all__ = ["EventFeed", "Sender", "call"]

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_RANGE = 5000
"""Most blocks read in one ``eth_getLogs`` (anvil answers any range; real nodes cap it)."""


async def call(function: Callable[[], T]) -> T:
    """Run a blocking web3 call in a worker thread."""
    return await asyncio.to_thread(function)


class EventFeed:
    """New ``event`` logs of one contract, from block ``from_block`` on.

    ``event`` is a bound event class, e.g. ``contract.events.OrderCreated``.
    """

    def __init__(self, w3: Web3, event: Any, from_block: int) -> None:
        self.w3 = w3
        self.event = event
        self.next_block = max(0, from_block)

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
            last = min(latest, self.next_block + MAX_RANGE - 1)
            found.extend(self.event.get_logs(from_block=self.next_block, to_block=last))
            self.next_block = last + 1
        return found


class Sender:
    """Sends transactions from one account, one at a time (so nonces never collide within a
    process): an account the node holds unlocked (the settler on anvil) or a local key."""

    def __init__(self, w3: Web3, account: Any) -> None:
        self.w3 = w3
        self.account = account
        self._lock = asyncio.Lock()

    @property
    def address(self) -> str:
        """The sending address, checksummed."""
        if isinstance(self.account, str):
            return Web3.to_checksum_address(self.account)
        return str(self.account.address)

    async def send(self, function: Any) -> Any:
        """Send ``function`` (a bound ``ContractFunction``) and wait for its receipt.

        Raises:
            devnet.chain.tx.TransactionError: it reverted; web3 errors when the chain is down.
        """
        from devnet.chain.tx import send, send_signed

        async with self._lock:
            if isinstance(self.account, str):
                return await call(lambda: send(self.w3, function, self.account))
            return await call(lambda: send_signed(self.w3, function, self.account))
