"""The gateway's bidding agent: it bids on tenants' orders for the nodes connected to it.

On the real network a Fizz node never signs a bid: its gateway bids on its behalf with the
prices the node reported (spheron-network.md §6.1 step 3). For each new fizz-mode order
(``OrderCreated``, mode 0) the agent picks, among this gateway's nodes that are

- connected (an open session),
- accepting (they announced prices and capacity, and did not refuse a lease in the last
  :data:`REJECTION_COOLDOWN_S`: a paused node answers offers with a refusal),
- big enough (their free capacity holds the order's resources, :func:`~devnet.market.orders.fits`),
- cheap enough (their ask for those resources is at most the order's ``maxPrice``), asked in
  the order's token: a node's per-block prices (``prices.per_block``) are in base units of the
  token it quotes in (``prices.token``, a symbol), so only a node quoting in uSPON is priced
  for a uSPON order,

the cheapest one, and calls ``Bid.placeBid(orderId, ask, fizzId)`` from the gateway's wallet.
The matchmaker (:mod:`devnet.market.matchmaker`) then picks among the bids on chain.

Orders whose spec is not the devnet's (:mod:`devnet.market.orders`) or whose token is not
uSPON are skipped with a log line: the agent cannot price them. An order the chain could not
be asked about (it did not answer) is tried again on the next polls, like one no node can take.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from web3 import Web3

from devnet.chain.deploy import Deployment
from devnet.gateway.sessions import Session

from .orders import OrderSpecError, fits, node_ask, parse_order_spec
from .watch import EventFeed, Sender, call, reverted

__all__ = ["Bid", "BiddingAgent", "REJECTION_COOLDOWN_S", "choose_node"]

log = logging.getLogger(__name__)

REJECTION_COOLDOWN_S = 30.0
"""A node that refused a lease is not bid for during this long."""
RETRY_S = 120.0
"""How long an order no node can take is retried (the matchmaker waits as long for bids)."""
MODE_FIZZ = 0
ORDER_TOKEN = "uSPON"
"""The symbol of the one token the agent bids in (``USPON.symbol()``)."""


class _Skip(Exception):
    """An order the agent never bids on (the message says why)."""


@dataclass(frozen=True)
class Bid:
    """A bid the agent placed (or would place)."""

    order_id: int
    fizz_id: int
    node: str
    price: int


def choose_node(
    sessions: Iterable[Session],
    spec: str,
    max_price: int,
    *,
    now: float | None = None,
    cooldown: float = REJECTION_COOLDOWN_S,
    token: str = ORDER_TOKEN,
) -> tuple[Session, int] | None:
    """The cheapest connected, accepting node quoting in ``token`` (the order's, a symbol)
    that fits ``spec`` at most ``max_price`` per block, with its ask; ``None`` when no node
    qualifies (or the spec is not the devnet's)."""
    try:
        wanted = parse_order_spec(spec)
    except OrderSpecError as error:
        log.info("order spec not understood, no bid: %s", error)
        return None
    moment = time.monotonic() if now is None else now
    best: tuple[Session, int] | None = None
    for session in sessions:
        if not session.is_open or session.prices is None or session.capacity is None:
            continue
        if session.prices.token != token:  # its per-block prices are in another token's units
            continue
        if session.last_rejection is not None and moment - session.last_rejection[0] < cooldown:
            continue
        if not fits(session.capacity, wanted):
            continue
        ask = node_ask(session.prices, wanted)
        if ask is None or ask > max_price:
            continue
        if best is None or ask < best[1]:
            best = (session, ask)
    return best


class BiddingAgent:
    """Bids for the nodes in ``sessions`` (the gateway's :class:`SessionRegistry`).

    Run :meth:`run` as a task of the gateway's loop; cancel it to stop. ``account`` signs the
    bids: the gateway's provider wallet (a local key, or an unlocked address).
    """

    def __init__(
        self,
        w3: Web3,
        deployment: Deployment,
        sessions: Iterable[Session],
        account: Any,
        *,
        poll: float = 0.5,
    ) -> None:
        self.w3 = w3
        self.deployment = deployment
        self.sessions = sessions
        self.sender = Sender(w3, account)
        self.poll = poll
        self.bids: list[Bid] = []
        """Every bid placed, oldest first."""
        self._orders = deployment.contract(w3, "OrderRequest")
        self._bid = deployment.contract(w3, "Bid")
        self._feed = EventFeed(w3, self._orders.events.OrderCreated, deployment.deployed_block)
        self._uspon = Web3.to_checksum_address(deployment.address("USPON"))
        self._pending: dict[int, tuple[Any, float]] = {}  # order id -> (args, first seen)

    async def run(self) -> None:
        """Poll for orders and bid until cancelled. An order no node can take now is looked
        at again on every poll (a lease may end, a node may connect) for :data:`RETRY_S`."""
        while True:
            now = time.monotonic()
            for event in await self._feed.poll():
                self._pending.setdefault(int(event["args"]["orderId"]), (event["args"], now))
            for order_id, (order, seen) in list(self._pending.items()):
                try:
                    bid = await self.consider(order, quiet=now - seen > 0)
                except asyncio.CancelledError:
                    raise
                except _Skip as skip:
                    log.info("no bid: %s", skip)
                    bid = None
                    self._pending.pop(order_id, None)
                except Exception as error:  # one bad order must not stop the agent
                    bid = None
                    if reverted(error):  # the chain refused the bid: it will again
                        log.warning("no bid on order %d: %r", order_id, error)
                        self._pending.pop(order_id, None)
                    else:  # the chain did not answer: tried again until RETRY_S
                        log.warning("no bid on order %d yet: %r", order_id, error)
                if bid is not None or now - seen > RETRY_S:
                    self._pending.pop(order_id, None)
            await asyncio.sleep(self.poll)

    async def consider(self, order: Any, *, quiet: bool = False) -> Bid | None:
        """Bid on one ``OrderCreated`` (its ``args``) if a node qualifies; the bid, or None.

        Raises:
            _Skip: the order is not one to bid on, ever (mode, token, spec, no longer open).
        """
        order_id = int(order["orderId"])
        if int(order["mode"]) != MODE_FIZZ:
            raise _Skip(f"order {order_id} is for providers")
        if Web3.to_checksum_address(order["token"]) != self._uspon:
            raise _Skip(f"order {order_id} pays in {order['token']}, not uSPON")
        try:  # another client's spec never becomes one: skip it once, not on every poll
            parse_order_spec(str(order["specs"]))
        except OrderSpecError as error:
            raise _Skip(f"order {order_id}: {error}") from None
        chosen = choose_node(self.sessions, str(order["specs"]), int(order["maxPrice"]))
        if chosen is None:
            if not quiet:
                log.info("order %d: no connected node fits it at its price (yet)", order_id)
            return None
        session, price = chosen
        # Open still? A restarted gateway reads old orders again.
        summary = await call(self._orders.functions.getOrderSummary(order_id).call)
        state = int(summary[5])
        if state != 0:
            raise _Skip(f"order {order_id} is no longer open")
        await self.sender.send(self._bid.functions.placeBid(order_id, price, session.fizz_id))
        bid = Bid(order_id, session.fizz_id, session.address, price)
        self.bids.append(bid)
        log.info("bid %d per block on order %d for node %s", price, order_id, session.address)
        return bid
