"""The market when the chain stops answering for a while (issue 9): nothing is lost and
nothing is sent twice.

The market's parts talk HTTP JSON-RPC to the in-process chain (:class:`RpcServer`) through a
proxy that refuses connections on demand (:class:`SwitchableProxy`); "the answer is lost" is
a request the chain carried out after which the proxy drops every connection (the chain
changed, the sender never heard). A transaction whose receipt does not come in time is one
the in-process chain does not mine yet (auto-mining off). Each test starts from the
deployment (``devnet_as_deployed`` per test), so no part sees another test's orders.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from devnet.chain.accounts import gateway_account
from devnet.gateway.server import GatewayServer
from devnet.gateway.sessions import Session
from devnet.market.bidding import Bid, BiddingAgent
from devnet.market.matchmaker import BID_WINDOW_S, Match, Matchmaker
from devnet.market.orders import GB, OrderResources
from devnet.market.rewards import EraRewards
from devnet.market.settlement import Settlement, owed
from devnet.market.watch import EventFeed, InDoubtError, Sender
from gateway_client.messages import Capacity, Prices, Resources
from tests.local_network import ProxyMode, RpcServer, SwitchableProxy

from .gateway_env import Chain, devnet_as_deployed, node_session, wait_for

pytestmark = pytest.mark.usefixtures("one_chain_thread")

SPEC = OrderResources("web", 1000, GB, GB).to_spec()
PRICES = Prices(
    token="uSPON",
    cpu_per_thread_month_usd="0.75",
    memory_per_gb_month_usd="0.1",
    storage_per_gb_month_usd="0.01",
    per_block={"cpu": "10", "memory": "2", "storage": "1"},
)
ASK = 13
"""What a node at PRICES asks for SPEC: 1 thread x 10 + 1 GB x 2 + 1 GB x 1."""
GIB = 1024**3
FULL = Capacity(
    allocatable=Resources(cpu=2000, memory=16 * GIB, storage_ephemeral=100 * GB),
    available=Resources(cpu=2000, memory=16 * GIB, storage_ephemeral=100 * GB),
    bandwidth="100;50",
    version="0;0",
    os="linux",
    arch="x86_64",
)
"""Exactly what a ``claiming_node`` registered (2 threads, 16 GB RAM, 100 GB): no shortfall."""
PER_ERA = 10 * 10**18
"""A ``claiming_node``'s era reward (10 SPON)."""
T0 = 1000.0
ORDER_MATCHED, ORDER_PROVISIONED = 3, 1


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    with devnet_as_deployed(tmp_path) as deployed:
        yield deployed


@pytest.fixture
def rpc(chain: Chain) -> Iterator[RpcServer]:
    with RpcServer(chain.w3) as server:
        yield server


@pytest.fixture
def proxy(rpc: RpcServer) -> Iterator[SwitchableProxy]:
    with SwitchableProxy(rpc.address) as running:
        yield running


@pytest.fixture
def w3(proxy: SwitchableProxy) -> Web3:
    """The chain over HTTP, through the proxy; without web3's retries, so that a refused
    request fails at once."""
    provider = Web3.HTTPProvider(
        proxy.url, request_kwargs={"timeout": 5}, exception_retry_configuration=None
    )
    return Web3(provider)


def lose_answer(rpc: RpcServer, proxy: SwitchableProxy, method: str, nth: int = 1) -> None:
    """The ``nth`` ``method`` request from now on is carried out on the chain, then the proxy
    drops every connection and refuses new ones: its answer is lost, and so is the chain."""
    seen = 0

    def carried_out(request: dict[str, Any]) -> None:
        nonlocal seen
        if request.get("method") == method:
            seen += 1
            if seen == nth:
                rpc.carried_out = None
                proxy.switch(ProxyMode.REFUSE)

    rpc.carried_out = carried_out


def tenant(chain: Chain, index: int = 7) -> str:
    return str(list(chain.w3.eth.accounts)[index])


def order_state(chain: Chain, order_id: int) -> int:
    orders = chain.deployment.contract(chain.w3, "OrderRequest")
    return int(orders.functions.getOrderSummary(order_id).call()[5])


def lease_row(chain: Chain, lease_id: int) -> Any:
    return chain.deployment.contract(chain.w3, "ComputeLease").functions.leases(lease_id).call()


def earned(chain: Chain, fizz_id: int) -> tuple[int, int, int]:
    escrow = chain.deployment.contract(chain.w3, "EscrowProtocol").functions
    e, w, b = escrow.fizzNodeEarnings(fizz_id, chain.deployment.address("USPON")).call()
    return int(e), int(w), int(b)


def order_with_a_bid(chain: Chain) -> tuple[int, int]:
    """A new order of the tenant (at most 10 per block for 50 blocks) and the bid of a freshly
    registered node on it, at 7 per block: (the node's fizz id, the order id)."""
    fizz_id = chain.fizz_id(chain.register().address)
    order_id = chain.order(tenant(chain), SPEC, max_price=10, blocks=50)
    chain.bid(order_id, fizz_id, 7)
    return fizz_id, order_id


def start_lease(
    chain: Chain, fizz_id: int, *, blocks: int = 5, price: int = 7
) -> tuple[int, float]:
    """An order of tenant 4 (maxPrice 10) leased to ``fizz_id`` at ``price``: (lease id, its
    on-chain startTime)."""
    order_id = chain.order(tenant(chain, 4), SPEC, max_price=10, blocks=blocks)
    chain.lease(order_id, fizz_id, price)
    return order_id, float(lease_row(chain, order_id)[7])


def new_node_with_a_lease(chain: Chain) -> tuple[int, int, float]:
    """A freshly registered node and a lease on it as :func:`start_lease` makes one (5 blocks
    at 7): (the node's fizz id, the lease id, the lease's on-chain startTime)."""
    fizz_id = chain.fizz_id(chain.register().address)
    lease_id, started = start_lease(chain, fizz_id)
    return fizz_id, lease_id, started


def deposits(chain: Chain, fizz_id: int) -> list[int]:
    """Every payment credited to ``fizz_id`` (LockedTokenTransferedToFizz), oldest first."""
    protocol = chain.deployment.contract(chain.w3, "EscrowProtocol")
    events = protocol.events.LockedTokenTransferedToFizz().get_logs(
        from_block=chain.deployment.deployed_block, argument_filters={"fizzId": fizz_id}
    )
    return [int(event["args"]["deposit"]) for event in events]


# ---- The matchmaker ------------------------------------------------------------------------------


async def test_an_order_waits_out_a_chain_that_stops_answering(
    chain: Chain, w3: Web3, proxy: SwitchableProxy, caplog: pytest.LogCaptureFixture
) -> None:
    fizz_id, order_id = order_with_a_bid(chain)
    matchmaker = Matchmaker(w3, chain.deployment, give_up=60.0)
    assert await matchmaker.round(now=T0) == []  # seen: bids are still coming

    proxy.switch(ProxyMode.REFUSE)  # down for most of a minute
    assert await matchmaker.round(now=T0 + BID_WINDOW_S) == []
    assert await matchmaker.round(now=T0 + 30.0) == []
    assert f"order {order_id} not matched yet (tried again)" in caplog.text

    proxy.switch(ProxyMode.FORWARD)
    done = await matchmaker.round(now=T0 + 59.0)
    assert done == [Match(order_id, chain.deployment.gateway_address, fizz_id, 7)]
    assert order_state(chain, order_id) == ORDER_PROVISIONED
    assert lease_row(chain, order_id)[:4] == [order_id, fizz_id, order_id, 7]


async def test_an_order_the_chain_fails_on_past_give_up_is_left_to_its_tenant(
    chain: Chain, w3: Web3, proxy: SwitchableProxy, caplog: pytest.LogCaptureFixture
) -> None:
    fizz_id, order_id = order_with_a_bid(chain)
    matchmaker = Matchmaker(w3, chain.deployment, give_up=60.0)
    await matchmaker.round(now=T0)
    proxy.switch(ProxyMode.REFUSE)
    await matchmaker.round(now=T0 + BID_WINDOW_S)
    await matchmaker.round(now=T0 + 60.0)
    assert order_id in matchmaker._waiting  # still within give_up
    await matchmaker.round(now=T0 + 60.01)
    assert f"order {order_id} not matched in 60 s, the chain failing" in caplog.text
    assert order_id not in matchmaker._waiting
    proxy.switch(ProxyMode.FORWARD)
    assert await matchmaker.round(now=T0 + 61.0) == []
    assert order_state(chain, order_id) == 0  # open: its tenant may close it


async def test_a_match_whose_answer_was_lost_gets_its_lease_without_a_second_match(
    chain: Chain, w3: Web3, rpc: RpcServer, proxy: SwitchableProxy
) -> None:
    fizz_id, order_id = order_with_a_bid(chain)
    matchmaker = Matchmaker(w3, chain.deployment)
    await matchmaker.round(now=T0)
    lose_answer(rpc, proxy, "eth_sendTransaction")  # matchOrder goes through, unheard
    assert await matchmaker.round(now=T0 + BID_WINDOW_S) == []
    assert order_state(chain, order_id) == ORDER_MATCHED
    assert matchmaker.sender.in_doubt

    proxy.switch(ProxyMode.FORWARD)
    done = await matchmaker.round(now=T0 + 10.0)
    assert done == [Match(order_id, chain.deployment.gateway_address, fizz_id, 7)]
    assert not matchmaker.sender.in_doubt
    assert order_state(chain, order_id) == ORDER_PROVISIONED
    bid = chain.deployment.contract(chain.w3, "Bid")
    matched = bid.events.OrderMatched().get_logs(from_block=chain.deployment.deployed_block)
    assert [int(event["args"]["orderId"]) for event in matched] == [order_id]  # once


# ---- The bidding agent ---------------------------------------------------------------------------


async def test_the_agent_bids_once_the_chain_answers_again(
    chain: Chain, w3: Web3, proxy: SwitchableProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="devnet.market.bidding")
    node = chain.register()
    fizz_id = chain.fizz_id(node.address)
    order_id = chain.order(tenant(chain), SPEC, max_price=ASK, blocks=5)
    sessions: list[Session] = []
    agent = BiddingAgent(w3, chain.deployment, sessions, gateway_account(), poll=0.02)
    task = asyncio.create_task(agent.run())
    try:
        await wait_for(lambda: f"order {order_id}: no connected node fits" in caplog.text)
        proxy.switch(ProxyMode.REFUSE)
        sessions.append(node_session(node.address, fizz_id, prices=PRICES))  # one can now
        await wait_for(lambda: f"no bid on order {order_id}" in caplog.text)
        proxy.switch(ProxyMode.FORWARD)
        await wait_for(lambda: agent.bids != [])
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert agent.bids == [Bid(order_id, fizz_id, node.address, ASK)]


# ---- Settlement and era rewards ------------------------------------------------------------------


async def test_uptime_counts_while_the_chain_is_down_and_the_missed_era_is_paid(
    chain: Chain, w3: Web3, proxy: SwitchableProxy, gateway: GatewayServer
) -> None:
    node = chain.claiming_node()
    fizz_id = chain.fizz_id(node.address)
    lease_id, started = start_lease(chain, fizz_id, blocks=1000)
    genesis, length = chain.era_clock()
    era = int((started - genesis) // length) + 1  # the next era: every round is after the start
    start = genesis + era * length
    before = chain.pending_rewards(node.address)
    settlement = Settlement(w3, chain.deployment, gateway)
    assert settlement.rewards is not None
    settlement.rewards.sessions = [node_session(node.address, fizz_id, capacity=FULL)]

    await settlement.settle_once(now=start)  # the lease adopted and paid; 2 s counted (a tick)
    assert lease_id in settlement.leases
    proxy.switch(ProxyMode.REFUSE)
    for offset in (30, 60, 90, 120):  # 30 s each; at 120 the next era begins: era ends unpaid
        with pytest.raises(OSError):  # the lease's payment fails
            await settlement.settle_once(now=start + offset)
    assert settlement.rewards.paid == []

    proxy.switch(ProxyMode.FORWARD)
    await settlement.settle_once(now=start + 150)
    # 2 + 3 x 30 = 92 s of the era's 120: over half, no shortfall: the whole reward.
    assert settlement.rewards.paid == [(era, node.address, PER_ERA)]
    assert chain.pending_rewards(node.address) == before + PER_ERA
    assert earned(chain, fizz_id)[0] == owed(7, 1000, started, start + 150)
    await settlement.settle_once(now=start + 152)
    assert settlement.rewards.paid == [(era, node.address, PER_ERA)]  # once
    assert chain.pending_rewards(node.address) == before + PER_ERA


async def test_an_era_batch_whose_answer_was_lost_is_paid_once_beside_lease_payments(
    chain: Chain, w3: Web3, rpc: RpcServer, proxy: SwitchableProxy, gateway: GatewayServer
) -> None:
    node = chain.claiming_node()
    fizz_id = chain.fizz_id(node.address)
    _lease_id, started = start_lease(chain, fizz_id, blocks=1000)
    genesis, length = chain.era_clock()
    era = int((started - genesis) // length) + 1
    start = genesis + era * length
    before = chain.pending_rewards(node.address)
    settlement = Settlement(w3, chain.deployment, gateway)
    assert settlement.rewards is not None
    settlement.rewards.sessions = [node_session(node.address, fizz_id, capacity=FULL)]
    await settlement.settle_once(now=start)
    await settlement.settle_once(now=start + 100)
    # The era ends: the lease's payment goes through, then the era's batch, unheard.
    lose_answer(rpc, proxy, "eth_sendTransaction", nth=2)
    await settlement.settle_once(now=start + 120)
    assert settlement.rewards.paid == []
    assert chain.pending_rewards(node.address) == before + PER_ERA

    proxy.switch(ProxyMode.FORWARD)
    await settlement.settle_once(now=start + 122)  # a payment first, then the batch again
    assert settlement.rewards.paid == [(era, node.address, PER_ERA)]
    assert chain.pending_rewards(node.address) == before + PER_ERA
    assert earned(chain, fizz_id)[0] == owed(7, 1000, started, start + 122)


async def test_a_payment_whose_answer_was_lost_is_not_paid_again(
    chain: Chain, w3: Web3, rpc: RpcServer, proxy: SwitchableProxy, gateway: GatewayServer
) -> None:
    fizz_id, _lease_id, t = new_node_with_a_lease(chain)
    settlement = Settlement(w3, chain.deployment, gateway, rewards=False)
    lose_answer(rpc, proxy, "eth_sendTransaction")
    with pytest.raises(OSError):
        await settlement.settle_once(now=t + 4.0)  # two blocks: 14, credited but unheard
    assert earned(chain, fizz_id) == (14, 0, 14)
    assert settlement.sender.in_doubt

    proxy.switch(ProxyMode.FORWARD)
    await settlement.settle_once(now=t + 6.0)  # three blocks: 21 in all, so 7 more
    assert earned(chain, fizz_id) == (21, 0, 21)
    assert deposits(chain, fizz_id) == [14, 7]


async def test_a_lease_read_as_the_chain_went_away_is_still_settled(
    chain: Chain, w3: Web3, rpc: RpcServer, proxy: SwitchableProxy, gateway: GatewayServer
) -> None:
    fizz_id, lease_id, t = new_node_with_a_lease(chain)
    settlement = Settlement(w3, chain.deployment, gateway, rewards=False)
    lose_answer(rpc, proxy, "eth_call")  # its LeaseCreated is read; reading the lease fails
    with pytest.raises(OSError):
        await settlement.settle_once(now=t + 2.0)
    assert settlement.leases == {}

    proxy.switch(ProxyMode.FORWARD)
    await settlement.settle_once(now=t + 2.0)
    assert lease_id in settlement.leases
    assert earned(chain, fizz_id) == (7, 0, 7)


async def test_an_era_batch_whose_answer_was_lost_is_not_paid_again(
    chain: Chain, w3: Web3, rpc: RpcServer, proxy: SwitchableProxy
) -> None:
    node = chain.claiming_node()
    genesis, length = chain.era_clock()
    before = chain.pending_rewards(node.address)
    session = node_session(node.address, 1, capacity=FULL)
    rewards = EraRewards(w3, chain.deployment, [session], Sender(w3, chain.deployment.settler))
    await rewards.sample(float(length), now=genesis + 3 * length + 1)  # all of era 3
    lose_answer(rpc, proxy, "eth_sendTransaction")
    await rewards.sample(2.0, now=genesis + 4 * length)  # era 3 ends: its batch goes, unheard
    assert rewards.paid == []
    assert chain.pending_rewards(node.address) == before + PER_ERA

    proxy.switch(ProxyMode.FORWARD)
    await rewards.sample(2.0, now=genesis + 4 * length + 2)  # the same batch: found, not sent
    assert rewards.paid == [(3, node.address, PER_ERA)]
    assert chain.pending_rewards(node.address) == before + PER_ERA


# ---- Following events, sending -------------------------------------------------------------------


async def test_events_read_before_the_chain_stopped_answering_are_not_lost(
    chain: Chain, w3: Web3, rpc: RpcServer, proxy: SwitchableProxy
) -> None:
    first = chain.order(tenant(chain), SPEC, max_price=10, blocks=5)
    first_block = int(chain.w3.eth.block_number)
    second = chain.order(tenant(chain), SPEC, max_price=10, blocks=5)  # in the next block
    assert int(chain.w3.eth.block_number) == first_block + 1
    orders = chain.deployment.contract(w3, "OrderRequest")
    feed = EventFeed(w3, orders.events.OrderCreated, first_block, max_range=1)
    lose_answer(rpc, proxy, "eth_getLogs", nth=2)  # one block per request: the second fails
    seen = [int(event["args"]["orderId"]) for event in await feed.poll()]
    assert seen == [first]
    proxy.switch(ProxyMode.FORWARD)
    seen += [int(event["args"]["orderId"]) for event in await feed.poll()]
    assert seen == [first, second]


async def test_a_transaction_whose_receipt_did_not_come_is_not_sent_twice(chain: Chain) -> None:
    fizz_id = chain.fizz_id(chain.register().address)
    order_id = chain.order(tenant(chain), SPEC, max_price=10, blocks=5)
    bid = chain.deployment.contract(chain.w3, "Bid").functions
    sender = Sender(chain.w3, gateway_account(), receipt_timeout=0.2)  # a local key
    tester = chain.w3.provider.ethereum_tester  # type: ignore[attr-defined]
    tester.disable_auto_mine_transactions()
    try:
        with pytest.raises(Exception, match="is not in the chain after"):
            await sender.send(bid.placeBid(order_id, 7, fizz_id))  # sent, not mined yet
        with pytest.raises(InDoubtError, match="not mined yet"):
            await sender.send(bid.placeBid(order_id, 7, fizz_id))  # nothing new sent
        tester.mine_blocks(1)
    finally:
        tester.enable_auto_mine_transactions()
    receipt = await sender.send(bid.placeBid(order_id, 7, fizz_id))  # the earlier one's
    assert receipt["status"] == 1
    assert [int(row[3]) for row in bid.getBids(order_id).call()] == [7]  # one bid
    assert not sender.in_doubt
