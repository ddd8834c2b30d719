"""The matchmaker (devnet/market/matchmaker.py) on the in-process chain: an ``OrderCreated``
waits out the bidding window, then the cheapest bid (the earliest among equals) is accepted
with ``Bid.matchOrder`` and its lease started with ``ComputeLease.createLease``; an order
without bids waits until ``give_up`` and is then left to its tenant; closed and provisioned
orders are skipped and a matched order without a lease gets its lease (a restarted
matchmaker does no harm); an order the chain refuses is dropped with the reason. A chain that
stops answering is in test_market_outage.py."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from devnet.chain.tx import send
from devnet.market.matchmaker import BID_WINDOW_S, GIVE_UP_S, Match, Matchmaker, cheapest
from devnet.market.orders import GB, OrderResources

from .gateway_env import Chain, devnet_as_deployed

pytestmark = pytest.mark.usefixtures("one_chain_thread")

SPEC = OrderResources("web", 1000, GB, GB).to_spec()
ORDER_OPEN, ORDER_PROVISIONED, ORDER_MATCHED = 0, 1, 3
T0 = 1000.0
"""The matchmaker's (monotonic) clock when it first sees the test's order."""


def row(provider: str, fizz_id: int, price: int, block: int) -> tuple[str, int, int, int, int]:
    """A ``Bid.getBids`` row: provider, providerId, fizzId, bidPrice, blockNumber."""
    return (provider, 1, fizz_id, price, block)


def test_cheapest_is_the_lowest_price_earliest_among_equals() -> None:
    assert cheapest([]) is None
    first, cheaper, same = row("0xA", 1, 9, 10), row("0xB", 2, 7, 11), row("0xC", 3, 7, 12)
    assert cheapest([first]) == first
    assert cheapest([first, cheaper, same]) == cheaper
    assert cheapest([first, same, cheaper]) == same  # arrival order breaks the tie
    assert BID_WINDOW_S == 2.0 and GIVE_UP_S == 120.0


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    with devnet_as_deployed(tmp_path_factory.mktemp("home")) as deployed:
        yield deployed


@pytest.fixture(scope="module")
def nodes(chain: Chain) -> tuple[int, int]:
    """Two registered nodes of the reference gateway: their fizz ids."""
    return chain.fizz_id(chain.register().address), chain.fizz_id(chain.register().address)


def order_state(chain: Chain, order_id: int) -> int:
    orders = chain.deployment.contract(chain.w3, "OrderRequest")
    return int(orders.functions.getOrderSummary(order_id).call()[5])


def lease_row(chain: Chain, lease_id: int) -> Any:
    return chain.deployment.contract(chain.w3, "ComputeLease").functions.leases(lease_id).call()


def tenant(chain: Chain) -> str:
    return str(list(chain.w3.eth.accounts)[7])


def new_order(chain: Chain, *bids: tuple[int, int]) -> int:
    """A new order of the tenant (at most 10 per block for 50 blocks), then ``bids`` on it in
    this order, each ``(fizz id, price per block)``; returns the order id."""
    order_id = chain.order(tenant(chain), SPEC, max_price=10, blocks=50)
    for fizz_id, price in bids:
        chain.bid(order_id, fizz_id, price)
    return order_id


async def test_the_cheapest_bid_becomes_the_lease_after_the_window(
    chain: Chain, nodes: tuple[int, int]
) -> None:
    a, b = nodes
    order_id = new_order(chain, (a, 9), (b, 7))
    matchmaker = Matchmaker(chain.w3, chain.deployment)
    assert await matchmaker.round(now=T0) == []  # seen now: bids are still coming
    assert await matchmaker.round(now=T0 + BID_WINDOW_S - 0.01) == []
    assert order_state(chain, order_id) == ORDER_OPEN

    gateway = chain.deployment.gateway_address
    done = await matchmaker.round(now=T0 + BID_WINDOW_S)
    assert done == matchmaker.matches == [Match(order_id, gateway, b, 7)]
    bid = chain.deployment.contract(chain.w3, "Bid").functions
    assert bid.getMatchedBid(order_id).call() == [gateway, b, chain.gateway_id, 7]
    lease = lease_row(chain, order_id)  # the lease id is the order id
    # leaseId, fizzId, requestId, acceptedPrice, providerAddress, tenantAddress, ..., state
    assert lease[:6] == [order_id, b, order_id, 7, gateway, tenant(chain)]
    assert lease[9] == 0  # active
    assert order_state(chain, order_id) == ORDER_PROVISIONED
    assert await matchmaker.round(now=T0 + 10) == []  # done with it


async def test_equal_bids_go_to_the_earliest(chain: Chain, nodes: tuple[int, int]) -> None:
    a, b = nodes
    order_id = new_order(chain, (b, 8), (a, 8))
    matchmaker = Matchmaker(chain.w3, chain.deployment)
    await matchmaker.round(now=T0)  # the module's earlier orders are no longer open
    done = await matchmaker.round(now=T0 + BID_WINDOW_S)
    assert done == [Match(order_id, chain.deployment.gateway_address, b, 8)]
    assert lease_row(chain, order_id)[1] == b


async def test_an_order_without_bids_waits_then_is_left_to_its_tenant(
    chain: Chain, nodes: tuple[int, int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="devnet.market.matchmaker")
    a, _ = nodes
    late = new_order(chain)
    never = new_order(chain)
    matchmaker = Matchmaker(chain.w3, chain.deployment, give_up=60.0)
    assert await matchmaker.round(now=T0) == []
    assert await matchmaker.round(now=T0 + BID_WINDOW_S) == []  # no bids: nothing sent
    assert await matchmaker.round(now=T0 + 59.0) == []
    assert order_state(chain, late) == order_state(chain, never) == ORDER_OPEN
    # A bid within give_up is still taken.
    chain.bid(late, a, 6)
    assert await matchmaker.round(now=T0 + 60.0) == [
        Match(late, chain.deployment.gateway_address, a, 6)
    ]
    # Past give_up the other is dropped: a bid arriving later is not matched by this matchmaker.
    assert await matchmaker.round(now=T0 + 60.01) == []
    assert f"order {never} had no bids in 60 s: left to its tenant" in caplog.text
    chain.bid(never, a, 6)
    assert await matchmaker.round(now=T0 + 100.0) == []
    assert order_state(chain, never) == ORDER_OPEN  # the tenant may close it, or wait
    orders = chain.deployment.contract(chain.w3, "OrderRequest")
    send(chain.w3, orders.functions.closeOrder(never), tenant(chain))


async def test_closed_and_matched_orders_are_skipped_by_a_restarted_matchmaker(
    chain: Chain, nodes: tuple[int, int], caplog: pytest.LogCaptureFixture
) -> None:
    a, _ = nodes
    closed = new_order(chain, (a, 5))
    orders = chain.deployment.contract(chain.w3, "OrderRequest")
    send(chain.w3, orders.functions.closeOrder(closed), tenant(chain))
    open_one = new_order(chain, (a, 5))
    # A fresh matchmaker reads every order since the deployment: all matched or closed but one.
    matchmaker = Matchmaker(chain.w3, chain.deployment)
    await matchmaker.round(now=T0)
    done = await matchmaker.round(now=T0 + BID_WINDOW_S)
    assert done == [Match(open_one, chain.deployment.gateway_address, a, 5)]
    assert lease_row(chain, closed)[5] == "0x" + "0" * 40  # no lease for the closed order
    again = Matchmaker(chain.w3, chain.deployment)
    await again.round(now=T0)
    assert await again.round(now=T0 + BID_WINDOW_S) == []
    # Skipped before anything is sent: no matchOrder tried (and reverted) on them.
    assert "not matched" not in caplog.text


async def test_a_matched_order_without_a_lease_gets_its_lease_from_the_matched_bid(
    chain: Chain, nodes: tuple[int, int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="devnet.market.matchmaker")
    a, b = nodes
    order_id = new_order(chain, (a, 8), (b, 6))
    # A matchmaker matched b's bid, then stopped before createLease (the chain went away).
    gateway = chain.deployment.gateway_address
    bid = chain.deployment.contract(chain.w3, "Bid").functions
    send(chain.w3, bid.matchOrder(order_id, gateway, b), chain.deployment.settler)
    assert order_state(chain, order_id) == ORDER_MATCHED
    assert lease_row(chain, order_id)[5] == "0x" + "0" * 40  # no lease

    restarted = Matchmaker(chain.w3, chain.deployment)
    await restarted.round(now=T0)
    done = await restarted.round(now=T0 + BID_WINDOW_S)
    assert done == [Match(order_id, gateway, b, 6)]
    assert f"order {order_id} was matched but has no lease: starting it" in caplog.text
    lease = lease_row(chain, order_id)
    assert lease[:6] == [order_id, b, order_id, 6, gateway, tenant(chain)]
    assert order_state(chain, order_id) == ORDER_PROVISIONED
    # Its lease exists now: skipped by the next matchmaker, nothing sent.
    again = Matchmaker(chain.w3, chain.deployment)
    await again.round(now=T0)
    assert await again.round(now=T0 + BID_WINDOW_S) == []


async def test_an_order_the_chain_refuses_is_dropped_with_the_reason(
    chain: Chain, nodes: tuple[int, int], caplog: pytest.LogCaptureFixture
) -> None:
    a, _ = nodes
    order_id = new_order(chain, (a, 6))
    # An account without SETTLER_ROLE: matchOrder reverts, and will on every try.
    stranger = list(chain.w3.eth.accounts)[8]
    matchmaker = Matchmaker(chain.w3, chain.deployment, settler=stranger)
    await matchmaker.round(now=T0)
    assert await matchmaker.round(now=T0 + BID_WINDOW_S) == []
    assert f"order {order_id} dropped: the chain refused it" in caplog.text
    assert order_id not in matchmaker._waiting
    assert order_state(chain, order_id) == ORDER_OPEN
    orders = chain.deployment.contract(chain.w3, "OrderRequest")
    send(chain.w3, orders.functions.closeOrder(order_id), tenant(chain))
