"""The gateway's bidding agent (devnet/market/bidding.py): which node ``choose_node`` picks
(connected, accepting, quoting in the order's token, fits, cheapest, ties, the rejection
cooldown, the maxPrice boundary), and the agent on the in-process chain: it bids its node's
ask with ``Bid.placeBid``, skips provider-mode orders, other tokens and closed orders, and
bids on an order it could not take as soon as a node can."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from devnet.chain.accounts import gateway_account
from devnet.chain.tx import send
from devnet.gateway.sessions import Session
from devnet.market.bidding import REJECTION_COOLDOWN_S, Bid, BiddingAgent, choose_node
from devnet.market.orders import GB, OrderResources
from gateway_client.messages import Capacity, Prices, Resources
from gateway_client.protocol import State

from .gateway_env import CAPACITY, Chain, devnet_as_deployed, node_session, wait_for

pytestmark = pytest.mark.usefixtures("one_chain_thread")

NODE_A = "0x" + "aa" * 20
NODE_B = "0x" + "bb" * 20
WEB = OrderResources("web", 1000, GB, GB).to_spec()
"""1 CPU thread, 1 GB of RAM, 1 GB of storage."""


def prices(cpu: str = "10", memory: str = "2", storage: str = "1") -> Prices:
    return Prices(
        token="uSPON",
        cpu_per_thread_month_usd="0.75",
        memory_per_gb_month_usd="0.1",
        storage_per_gb_month_usd="0.01",
        per_block={"cpu": cpu, "memory": memory, "storage": storage},
    )


# At prices(): 1 thread x 10 + 1 GB x 2 + 1 GB x 1 = 13 per block for WEB.
ASK = 13


def session(
    address: str = NODE_A,
    fizz_id: int = 1,
    *,
    asking: Prices | None = None,
    capacity: Capacity = CAPACITY,
) -> Session:
    """A connected node with ``capacity`` asking ``asking`` (default: :func:`prices`)."""
    return node_session(address, fizz_id, prices=asking or prices(), capacity=capacity)


# ---- choose_node ---------------------------------------------------------------------------------


def test_the_cheapest_qualifying_node_wins_with_its_ask() -> None:
    a = session(NODE_A, 1)
    b = session(NODE_B, 2, asking=prices(cpu="5"))  # 5 + 2 + 1 = 8
    assert choose_node([a, b], WEB, 100) == (b, 8)
    assert choose_node([b, a], WEB, 100) == (b, 8)
    assert choose_node([a], WEB, 100) == (a, ASK)


def test_ties_go_to_the_first_node() -> None:
    a, b = session(NODE_A, 1), session(NODE_B, 2)
    assert choose_node([a, b], WEB, 100) == (a, ASK)
    assert choose_node([b, a], WEB, 100) == (b, ASK)


def test_max_price_is_the_highest_ask_bid() -> None:
    a = session()
    assert choose_node([a], WEB, ASK) == (a, ASK)  # equal: allowed (so is Bid.placeBid)
    assert choose_node([a], WEB, ASK - 1) is None


@pytest.mark.parametrize(
    ("why", "change"),
    [
        ("closing", lambda s: setattr(s.connection.protocol, "state", State.CLOSING)),
        ("closed", lambda s: setattr(s.connection.protocol, "state", State.CLOSED)),
        ("no prices yet", lambda s: setattr(s, "prices", None)),
        ("no capacity yet", lambda s: setattr(s, "capacity", None)),
        (
            "no per-block prices",
            lambda s: setattr(s, "prices", Prices(**{**vars(prices()), "per_block": None})),
        ),
        (  # its per-block prices are in USDC base units: nothing to compare with uSPON's
            "prices in another token",
            lambda s: setattr(s, "prices", Prices(**{**vars(s.prices), "token": "USDC"})),
        ),
    ],
)
def test_nodes_that_cannot_take_work_are_passed_over(
    why: str, change: Callable[[Session], None]
) -> None:
    cheap, dear = session(NODE_A, 1, asking=prices(cpu="1")), session(NODE_B, 2)
    change(cheap)
    assert choose_node([cheap, dear], WEB, 100) == (dear, ASK), why
    assert choose_node([cheap], WEB, 100) is None, why


def test_only_nodes_quoting_in_the_orders_token_are_priced() -> None:
    usdc = session(NODE_A, 1, asking=Prices(**{**vars(prices(cpu="1")), "token": "USDC"}))
    uspon = session(NODE_B, 2)
    assert choose_node([usdc, uspon], WEB, 100) == (uspon, ASK)  # uSPON, the default
    assert choose_node([usdc, uspon], WEB, 100, token="USDC") == (usdc, 4)  # 1 + 2 + 1


def test_a_node_too_small_for_the_order_is_passed_over() -> None:
    tiny = Capacity(
        allocatable=CAPACITY.allocatable,
        available=Resources(cpu=999, memory=8 * GB, storage_ephemeral=8 * GB),
        bandwidth="100;50",
        version="0;0",
        os="linux",
        arch="x86_64",
    )
    cheap = session(NODE_A, 1, asking=prices(cpu="1"), capacity=tiny)  # 999 < 1000 millicores
    dear = session(NODE_B, 2)
    assert choose_node([cheap, dear], WEB, 100) == (dear, ASK)
    gpu = OrderResources("gpu", 1000, GB, GB, gpu_units=1).to_spec()
    assert choose_node([cheap, dear], gpu, 100) is None  # nobody has a GPU free


def test_a_node_that_refused_work_rests_for_the_cooldown() -> None:
    assert REJECTION_COOLDOWN_S == 30.0
    rested = session(NODE_A, 1, asking=prices(cpu="1"))  # the cheaper one: 1 + 2 + 1 = 4
    rested.last_rejection = (100.0, "the node is paused")
    other = session(NODE_B, 2)
    assert choose_node([rested, other], WEB, 100, now=100.0) == (other, ASK)
    assert choose_node([rested, other], WEB, 100, now=129.99) == (other, ASK)
    assert choose_node([rested, other], WEB, 100, now=130.0) == (rested, 4)  # 30 s: back
    assert choose_node([rested, other], WEB, 100, now=105.0, cooldown=5.0) == (rested, 4)


def test_a_spec_that_is_not_the_devnets_gets_no_node() -> None:
    assert choose_node([session()], "n:test;r:us-east", 100) is None
    assert choose_node([session()], '{"r": {"c": "Infinity", "m": 1, "s": 1}}', 100) is None
    assert choose_node([], WEB, 100) is None


# ---- The agent on the chain ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    with devnet_as_deployed(tmp_path_factory.mktemp("home")) as deployed:
        yield deployed


@contextlib.asynccontextmanager
async def agent_running(chain: Chain, sessions: list[Session]) -> AsyncIterator[BiddingAgent]:
    """The agent bidding for ``sessions`` (read afresh on every poll), polling every 20 ms.
    While it runs, the test reads the chain only through ``asyncio.to_thread`` (the
    in-process chain takes one caller at a time)."""
    agent = BiddingAgent(chain.w3, chain.deployment, sessions, gateway_account(), poll=0.02)
    task = asyncio.create_task(agent.run())
    try:
        yield agent
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def bids_on(chain: Chain, order_id: int) -> list[tuple[str, int, int, int]]:
    rows = chain.deployment.contract(chain.w3, "Bid").functions.getBids(order_id).call()
    return [(row[0], int(row[1]), int(row[2]), int(row[3])) for row in rows]


def logged(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in record.getMessage() for record in caplog.records)


async def test_the_agent_bids_its_node_ask_and_skips_what_it_cannot_price(
    chain: Chain, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="devnet.market.bidding")
    w3, deployment = chain.w3, chain.deployment
    node = chain.register()
    fizz_id = chain.fizz_id(node.address)
    tenant = list(w3.eth.accounts)[5]
    # Another registered token than uSPON: SPON, which the admin may mint.
    spon = deployment.contract(w3, "RewardToken")
    tokens = deployment.contract(w3, "TokenRegistry")
    send(w3, tokens.functions.addToken(spon.address), deployment.admin)
    send(w3, spon.functions.mint(tenant, 10 * ASK), deployment.admin)

    fizz_order = chain.order(tenant, WEB, max_price=ASK, blocks=10)  # maxPrice = the ask
    provider_order = chain.order(tenant, WEB, max_price=ASK, blocks=10, mode=1)
    spon_order = chain.order(tenant, WEB, max_price=ASK, blocks=10, token=spon.address)
    closed_order = chain.order(tenant, WEB, max_price=ASK, blocks=10)
    orders = deployment.contract(w3, "OrderRequest")
    send(w3, orders.functions.closeOrder(closed_order), tenant)
    foreign_order = chain.order(tenant, "n:test;r:us-east", max_price=ASK, blocks=10)

    sessions = [node_session(node.address, fizz_id, prices=prices())]
    async with agent_running(chain, sessions) as agent:
        await wait_for(lambda: logged(caplog, f"no bid: order {foreign_order}:") == 1)
        await asyncio.sleep(0.2)  # ten polls more: nothing is logged again

    provider = deployment.gateway_provider_id
    gateway = deployment.gateway_address
    assert bids_on(chain, fizz_order) == [(gateway, provider, fizz_id, ASK)]
    assert agent.bids == [Bid(fizz_order, fizz_id, node.address, ASK)]
    for skipped, why in [
        (provider_order, f"order {provider_order} is for providers"),
        (spon_order, f"order {spon_order} pays in {spon.address}, not uSPON"),
        (closed_order, f"order {closed_order} is no longer open"),
    ]:
        assert bids_on(chain, skipped) == []
        assert logged(caplog, f"no bid: {why}") == 1  # skipped once, never looked at again
    # Another client's spec: skipped once with the reason, not retried on every poll.
    assert bids_on(chain, foreign_order) == []
    assert logged(caplog, f"no bid: order {foreign_order}: not a devnet order spec") == 1
    assert logged(caplog, f"order {foreign_order}: no connected node") == 0


async def test_an_order_nobody_can_take_yet_is_bid_on_when_a_node_can(
    chain: Chain, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="devnet.market.bidding")
    node = chain.register()
    fizz_id = chain.fizz_id(node.address)
    tenant = list(chain.w3.eth.accounts)[6]
    order_id = chain.order(tenant, WEB, max_price=ASK, blocks=5)
    sessions: list[Session] = []
    async with agent_running(chain, sessions) as agent:

        def ours() -> list[Bid]:  # the agent reads the module's earlier orders too
            return [bid for bid in agent.bids if bid.order_id == order_id]

        waiting = f"order {order_id}: no connected node fits it at its price (yet)"
        await wait_for(lambda: logged(caplog, waiting) == 1)
        # A node that asks too much does not get it; a node that just refused work neither.
        sessions.append(node_session(node.address, fizz_id, prices=prices(cpu="11")))  # 14
        await asyncio.sleep(0.2)
        assert ours() == []
        sessions[0] = node_session(node.address, fizz_id, prices=prices())
        sessions[0].last_rejection = (time.monotonic(), "the node is paused")
        await asyncio.sleep(0.2)
        assert ours() == []
        sessions[0].last_rejection = None
        await wait_for(lambda: ours() != [])
        assert logged(caplog, waiting) == 1  # said once, not on every poll
    assert ours() == [Bid(order_id, fizz_id, node.address, ASK)]
    gateway, provider = chain.deployment.gateway_address, chain.deployment.gateway_provider_id
    assert bids_on(chain, order_id) == [(gateway, provider, fizz_id, ASK)]
