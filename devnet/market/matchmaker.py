"""The matchmaker: turns tenants' orders into leases, as the real network's does (§6.1).

For every ``OrderCreated`` it waits out the bidding window (:data:`BID_WINDOW_S`: the real
network's "1-2 blocks"), reads the bids (``Bid.getBids``), accepts the cheapest (the earliest
among equals) with ``Bid.matchOrder`` and starts the lease with ``ComputeLease.createLease``,
both from the settler account (SETTLER_ROLE). An order with no bid is looked at again until
:data:`GIVE_UP_S` after it was seen (a node may connect meanwhile), then left to its tenant,
who may close it. So is an order the chain could not be asked about (it did not answer, a
transaction's receipt never came): a chain down for a while only delays matching. An order
the chain refuses (a revert: it will not do better on a retry) is dropped with a log line.

Matching is idempotent, so a restarted matchmaker reading the chain from the start does no
harm: an order already matched whose lease never started (``createLease`` failed after
``matchOrder``) gets its lease from the matched bid (``Bid.getMatchedBid``); orders with a
lease (provisioned) or closed are skipped.

Run it with ``fizz-node devnet market`` (``fizz-node devnet up`` starts it), or embed
:class:`Matchmaker` and run :meth:`Matchmaker.run` as a task.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from web3 import Web3

from devnet.chain.deploy import Deployment

from .watch import EventFeed, Sender, call, reverted

__all__ = ["BID_WINDOW_S", "GIVE_UP_S", "Match", "Matchmaker", "cheapest"]

log = logging.getLogger(__name__)

BID_WINDOW_S = 2.0
"""How long bids are collected after an order is seen."""
GIVE_UP_S = 120.0
"""An order with no bids (or no answer from the chain) this long after it was seen is left
alone."""
ORDER_OPEN, ORDER_MATCHED = 0, 3


@dataclass(frozen=True)
class Match:
    """A lease the matchmaker started."""

    order_id: int
    provider: str
    fizz_id: int
    price: int


def cheapest(bids: list[Any]) -> Any | None:
    """The lowest-priced bid (``Bid.getBids`` rows: provider, providerId, fizzId, bidPrice,
    blockNumber), the earliest among equals; ``None`` without bids."""
    best = None
    for row in bids:
        if best is None or int(row[3]) < int(best[3]):
            best = row
    return best


class Matchmaker:
    """Matches orders of ``deployment``'s OrderRequest from the ``settler`` account
    (an unlocked address; the deployment's settler by default)."""

    def __init__(
        self,
        w3: Web3,
        deployment: Deployment,
        *,
        settler: Any = None,
        poll: float = 0.5,
        bid_window: float = BID_WINDOW_S,
        give_up: float = GIVE_UP_S,
    ) -> None:
        self.w3 = w3
        self.sender = Sender(w3, settler if settler is not None else deployment.settler)
        self.poll = poll
        self.bid_window = bid_window
        self.give_up = give_up
        self.matches: list[Match] = []
        self._orders = deployment.contract(w3, "OrderRequest")
        self._bid = deployment.contract(w3, "Bid")
        self._lease = deployment.contract(w3, "ComputeLease")
        self._feed = EventFeed(w3, self._orders.events.OrderCreated, deployment.deployed_block)
        self._waiting: dict[int, float] = {}  # order id -> monotonic time first seen

    async def run(self) -> None:
        """Match orders until cancelled."""
        while True:
            try:
                await self.round()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the chain went away: the next round retries
                log.warning("matchmaking round failed: %r", error)
            await asyncio.sleep(self.poll)

    async def round(self, now: float | None = None) -> list[Match]:
        """Read new orders, and match those whose bidding window has passed."""
        moment = time.monotonic() if now is None else now
        for event in await self._feed.poll():
            self._waiting.setdefault(int(event["args"]["orderId"]), moment)
        done: list[Match] = []
        for order_id, seen in sorted(self._waiting.items()):
            if moment - seen < self.bid_window:
                continue
            try:
                match = await self._match(order_id)
            except Exception as error:
                if reverted(error):
                    log.warning("order %d dropped: the chain refused it: %r", order_id, error)
                    self._waiting.pop(order_id, None)
                elif moment - seen > self.give_up:
                    log.warning("order %d not matched in %g s, the chain failing: %r; left to its "
                                "tenant", order_id, self.give_up, error)  # fmt: skip
                    self._waiting.pop(order_id, None)
                else:
                    log.warning("order %d not matched yet (tried again): %r", order_id, error)
                continue
            if match is not None:
                done.append(match)
                self._waiting.pop(order_id, None)
            elif moment - seen > self.give_up:
                log.info("order %d had no bids in %g s: left to its tenant", order_id, self.give_up)
                self._waiting.pop(order_id, None)
        return done

    async def _match(self, order_id: int) -> Match | None:
        summary = await call(self._orders.functions.getOrderSummary(order_id).call)
        state = int(summary[5])
        if state == ORDER_MATCHED:  # matchOrder went through, createLease did not
            log.info("order %d was matched but has no lease: starting it", order_id)
            return await self._start_lease(order_id)
        if state != ORDER_OPEN:  # provisioned (its lease exists) or closed
            self._waiting.pop(order_id, None)
            return None
        best = cheapest(list(await call(self._bid.functions.getBids(order_id).call)))
        if best is None:
            return None
        provider, fizz_id = Web3.to_checksum_address(best[0]), int(best[2])
        await self.sender.send(self._bid.functions.matchOrder(order_id, provider, fizz_id))
        return await self._start_lease(order_id)

    async def _start_lease(self, order_id: int) -> Match:
        """``createLease`` for a matched order, with its matched bid (the lease id is the order
        id). A matched order has no lease: ``createLease`` moves it on to provisioned."""
        matched = await call(self._bid.functions.getMatchedBid(order_id).call)
        provider, fizz_id, price = (
            Web3.to_checksum_address(matched[0]),
            int(matched[1]),
            int(matched[3]),
        )
        await self.sender.send(
            self._lease.functions.createLease(order_id, price, provider, fizz_id)
        )
        match = Match(order_id, provider, fizz_id, price)
        self.matches.append(match)
        log.info("order %d matched to fizz %d at %d per block: lease started",
                 order_id, fizz_id, price)  # fmt: skip
        return match
