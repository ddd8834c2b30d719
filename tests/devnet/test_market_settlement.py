"""Lease settlement (devnet/market/settlement.py): ``owed`` in whole 2-second blocks, and the
Settlement rounds on the in-process chain with a running gateway and a real NodeClient: an
active lease is paid per block into EscrowProtocol (``fizzNodeEarnings``) and the node told its
total, a restarted settlement reads what was paid back from the chain, a lease whose blocks are
all paid or whose workload ended is closed on chain, and a ``LeaseClosed`` closes the lease on
the gateway. Times are passed to ``settle_once`` explicitly (the chain's ``startTime`` plus so
many seconds), so no test waits for blocks to pass."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from hypothesis import given, settings
from hypothesis import strategies as st

from devnet.chain.tx import send, send_signed
from devnet.gateway.server import GatewayServer
from devnet.market.orders import GB, OrderResources
from devnet.market.settlement import BLOCK_SECONDS, Settlement, owed
from gateway_client.backoff import ReconnectPolicy
from gateway_client.client import Connection, NodeClient
from gateway_client.messages import (
    ClientInfo,
    Earnings,
    LeaseAccept,
    LeaseClose,
    LeaseOffer,
    LeaseStatus,
    Manifest,
)
from gateway_client.protocol import ControlReceived, Event, Welcomed

from .gateway_env import CAPACITY, Chain, devnet_as_deployed, signer, wait_for

pytestmark = pytest.mark.usefixtures("one_chain_thread")

SPEC = OrderResources("web", 500, GB, GB).to_spec()
SERVICE = {
    "name": "web",
    "image": "nginx:alpine",
    "resources": {
        "cpu": {"units": {"val": "500"}},
        "memory": {"size": {"val": "268435456"}},
        "storage": [{"name": "default", "size": {"val": "1073741824"}}],
    },
    "count": 1,
    "expose": [{"port": 80, "externalPort": 0, "proto": "TCP", "global": True}],
}
MAX_PRICE, PRICE, BLOCKS = 10, 7, 5
"""The order offers at most 10 per block for 5 blocks (it locks 10 x 5 = 50); the lease was
bid and accepted at 7 per block, so it pays 7 x 5 = 35 in all."""


# ---- owed ----------------------------------------------------------------------------------------


def test_owed_counts_whole_blocks_up_to_the_lease_length() -> None:
    assert BLOCK_SECONDS == 2.0
    start = 1_700_000_000.0
    assert owed(7, 5, start, start) == 0
    assert owed(7, 5, start, start + 1.999) == 0  # the first block is not over
    assert owed(7, 5, start, start + 2.0) == 7  # 1 block x 7
    assert owed(7, 5, start, start + 7.5) == 21  # floor(7.5 / 2) = 3 blocks x 7
    assert owed(7, 5, start, start + 10.0) == 35  # 5 blocks: all of them
    assert owed(7, 5, start, start + 3600.0) == 35  # never more than the lease's 5 blocks
    assert owed(7, 5, start, start - 60.0) == 0  # a clock behind the chain's owes nothing
    assert owed(0, 5, start, start + 10.0) == 0


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 10**12),
    st.integers(0, 10**6),
    st.floats(0, 2e9),
    st.floats(-1e6, 1e7),
    st.floats(0, 1e7),
)
def test_owed_is_whole_blocks_capped_and_never_shrinks(
    price: int, blocks: int, started: float, offset: float, later: float
) -> None:
    now = started + offset
    due = owed(price, blocks, started, now)
    assert 0 <= due <= price * blocks
    if price:
        assert due % price == 0
    assert owed(price, blocks, started, now + later) >= due


# ---- The settlement on the chain -----------------------------------------------------------------


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    with devnet_as_deployed(tmp_path_factory.mktemp("home")) as deployed:
        yield deployed


@dataclass
class Lease:
    """A lease started on chain for a test, and its numbers."""

    lease_id: int
    fizz_id: int
    tenant: str
    started: float
    """The lease's on-chain ``startTime``."""


def start_lease(chain: Chain, node: LocalAccount, tenant_index: int) -> Lease:
    tenant = str(list(chain.w3.eth.accounts)[tenant_index])
    fizz_id = chain.fizz_id(node.address)
    order_id = chain.order(tenant, SPEC, max_price=MAX_PRICE, blocks=BLOCKS)
    chain.lease(order_id, fizz_id, PRICE)
    row = chain.deployment.contract(chain.w3, "ComputeLease").functions.leases(order_id).call()
    return Lease(order_id, fizz_id, tenant, float(row[7]))


def earned(chain: Chain, fizz_id: int) -> tuple[int, int, int]:
    """EscrowProtocol.fizzNodeEarnings in uSPON: (earned, withdrawn, balance)."""
    escrow = chain.deployment.contract(chain.w3, "EscrowProtocol").functions
    e, w, b = escrow.fizzNodeEarnings(fizz_id, chain.deployment.address("USPON")).call()
    return int(e), int(w), int(b)


def order_summary(chain: Chain, order_id: int) -> tuple[int, int]:
    """The order's (state, lockedAmount)."""
    orders = chain.deployment.contract(chain.w3, "OrderRequest").functions
    summary = orders.getOrderSummary(order_id).call()
    return int(summary[5]), int(summary[6])


def lease_state(chain: Chain, lease_id: int) -> int:
    lease = chain.deployment.contract(chain.w3, "ComputeLease").functions
    return int(lease.leases(lease_id).call()[9])


def settlement(chain: Chain, gateway: GatewayServer) -> Settlement:
    return Settlement(chain.w3, chain.deployment, gateway, rewards=False)


async def test_a_lease_is_paid_per_block_read_back_after_a_restart_and_closed_when_done(
    chain: Chain, gateway: GatewayServer
) -> None:
    lease = start_lease(chain, chain.register(), tenant_index=4)
    lease_id, fizz_id, t = lease.lease_id, lease.fizz_id, lease.started
    escrow = chain.deployment.contract(chain.w3, "EscrowUser").functions
    uspon = chain.deployment.address("USPON")
    deposited_before = int(escrow.getUserData(lease.tenant, uspon).call()[0])
    settle = settlement(chain, gateway)

    await settle.settle_once(now=t + 1.999)  # adopted; the first block is not over
    assert lease_id in settle.leases
    assert earned(chain, fizz_id) == (0, 0, 0)
    assert order_summary(chain, lease_id) == (1, 50)  # provisioned; locked 10 x 5 = 50

    await settle.settle_once(now=t + 2.0)  # one block: 7
    assert earned(chain, fizz_id) == (7, 0, 7)
    assert order_summary(chain, lease_id) == (1, 43)  # 50 - 7
    await settle.settle_once(now=t + 7.5)  # three blocks: 21, so 14 more
    assert earned(chain, fizz_id) == (21, 0, 21)
    assert order_summary(chain, lease_id) == (1, 29)  # 50 - 21
    await settle.settle_once(now=t + 7.9)  # still three blocks: nothing sent
    assert earned(chain, fizz_id) == (21, 0, 21)
    protocol = chain.deployment.contract(chain.w3, "EscrowProtocol")
    paid = protocol.events.LockedTokenTransferedToFizz().get_logs(
        from_block=chain.deployment.deployed_block, argument_filters={"fizzId": fizz_id}
    )
    assert [event["args"]["deposit"] for event in paid] == [7, 14]
    assert {event["args"]["from"] for event in paid} == {lease.tenant}

    # A restarted settlement reads what was paid from the lock: 10 x 5 - 29 = 21.
    restarted = settlement(chain, gateway)
    await restarted.settle_once(now=t + 7.5)
    assert restarted.leases[lease_id].paid == 21
    assert earned(chain, fizz_id) == (21, 0, 21)  # nothing paid twice
    await restarted.settle_once(now=t + 9.0)  # four blocks: 28
    assert earned(chain, fizz_id) == (28, 0, 28)

    # Long after the end: the last block is paid and the lease closed in the same round.
    await restarted.settle_once(now=t + 3600.0)
    assert earned(chain, fizz_id) == (35, 0, 35)  # 7 x 5, never more
    assert lease_state(chain, lease_id) == 1  # terminated
    assert order_summary(chain, lease_id) == (2, 0)  # closed; 50 - 35 = 15 went back
    assert escrow.getUserData(lease.tenant, uspon).call() == [deposited_before - 35, 0]
    # The LeaseClosed of that close ends the settling; nothing more is sent.
    await restarted.settle_once(now=t + 3602.0)
    assert restarted.leases == {}
    assert earned(chain, fizz_id) == (35, 0, 35)


async def test_leases_of_other_gateways_are_not_settled(
    chain: Chain, gateway: GatewayServer
) -> None:
    other = chain.funded()
    providers = chain.deployment.contract(chain.w3, "ProviderRegistry")
    send_signed(chain.w3, providers.functions.addProvider("{}", "127.0.0.2", "", []), other)
    provider_id = int(providers.functions.addressToProviderId(other.address).call())
    node = chain.register(provider_id)
    fizz_id = chain.fizz_id(node.address)
    tenant = str(list(chain.w3.eth.accounts)[5])
    order_id = chain.order(tenant, SPEC, max_price=MAX_PRICE, blocks=BLOCKS)
    bid = chain.deployment.contract(chain.w3, "Bid").functions
    send_signed(chain.w3, bid.placeBid(order_id, PRICE, fizz_id), other)
    send(chain.w3, bid.matchOrder(order_id, other.address, fizz_id), chain.deployment.settler)
    lease = chain.deployment.contract(chain.w3, "ComputeLease").functions
    create = lease.createLease(order_id, PRICE, other.address, fizz_id)
    send(chain.w3, create, chain.deployment.settler)

    settle = settlement(chain, gateway)
    await settle.settle_once(now=float(lease.leases(order_id).call()[7]) + 3600.0)
    assert order_id not in settle.leases
    assert earned(chain, fizz_id) == (0, 0, 0)
    assert lease_state(chain, order_id) == 0  # still active: not ours to close


# ---- With the node -------------------------------------------------------------------------------


@dataclass
class MarketNode:
    """A node that accepts every lease offer and runs it (it says so), and records what the
    gateway tells it."""

    account: LocalAccount
    connection: Connection | None = None
    earnings: list[Earnings] = field(default_factory=list)
    closes: list[LeaseClose] = field(default_factory=list)

    async def on_event(self, connection: Connection, event: Event) -> None:
        if isinstance(event, Welcomed):
            self.connection = connection
            connection.send_control(CAPACITY)
            return
        if not isinstance(event, ControlReceived):
            return
        message = event.message
        if isinstance(message, LeaseOffer):
            connection.send_control(LeaseAccept(lease_id=message.lease_id))
        elif isinstance(message, Manifest):
            connection.send_control(LeaseStatus(lease_id=message.lease_id, state="running"))
        elif isinstance(message, Earnings):
            self.earnings.append(message)
        elif isinstance(message, LeaseClose):
            self.closes.append(message)

    def report(self, status: LeaseStatus) -> None:
        assert self.connection is not None
        self.connection.send_control(status)


@contextlib.asynccontextmanager
async def market_node(gateway: GatewayServer, account: LocalAccount) -> AsyncIterator[MarketNode]:
    node = MarketNode(account)
    client = NodeClient(
        gateway.url,
        address=account.address,
        sign=signer(account),
        client=ClientInfo(name="fizz-node-test", version="0", instance_id="market-node"),
        leases=lambda: [],
        on_event=node.on_event,
        policy=ReconnectPolicy(initial=0.05, maximum=0.2),
    )
    task = asyncio.create_task(client.run())
    try:
        await wait_for(lambda: gateway.sessions.open_session(account.address) is not None)
        yield node
    finally:
        client.stop()
        await asyncio.wait_for(task, 10)


async def deploy(gateway: GatewayServer, lease: Lease) -> None:
    """The tenant sends the chain lease's manifest; wait until it runs on its node."""
    await gateway.deploy(str(lease.lease_id), [SERVICE])

    def running() -> bool:
        found = gateway.leases.find(str(lease.lease_id))
        return bool(found) and found[0].running

    await wait_for(running)


def close_on_chain(chain: Chain, lease: Lease) -> None:
    """The tenant closes the lease (ComputeLease.closeLease)."""
    close = chain.deployment.contract(chain.w3, "ComputeLease").functions.closeLease
    send(chain.w3, close(lease.lease_id), lease.tenant)


def on_chain(function: Any, *args: Any) -> Any:
    """Run a blocking chain call on the chain's one worker thread (the gateway reads it too)."""
    return asyncio.to_thread(function, *args)


async def test_the_node_is_told_its_total_and_a_lease_closed_on_chain_ends_on_the_gateway(
    chain: Chain, gateway: GatewayServer
) -> None:
    account = chain.register()
    async with market_node(gateway, account) as node:
        # Paid before the tenant sent its manifest: nothing to tell on the gateway yet.
        lease = await on_chain(start_lease, chain, account, 6)
        lease_id = str(lease.lease_id)
        settle = settlement(chain, gateway)
        await settle.settle_once(now=lease.started + 2.0)  # one block: 7 base units
        assert await on_chain(earned, chain, lease.fizz_id) == (7, 0, 7)
        await deploy(gateway, lease)
        assert node.earnings == []
        # The next round tells the node the lease's total (whole uSPON), once.
        await settle.settle_once(now=lease.started + 2.0)
        await wait_for(lambda: len(node.earnings) == 1)
        assert node.earnings == [Earnings(lease_id=lease_id, amount="0.000007", token="uSPON")]
        await settle.settle_once(now=lease.started + 6.0)  # three blocks: 21
        await wait_for(lambda: len(node.earnings) == 2)
        assert node.earnings[1] == Earnings(lease_id=lease_id, amount="0.000021", token="uSPON")

        # The tenant ends the lease on chain: the gateway closes it and tells the node.
        await on_chain(close_on_chain, chain, lease)
        await settle.settle_once(now=lease.started + 8.0)
        await wait_for(lambda: len(node.closes) == 1)
        closed = LeaseClose(lease_id=lease_id, reason="the lease was closed on chain")
        assert node.closes == [closed]
        (ended,) = gateway.leases.find(lease_id)
        assert not ended.active
        assert settle.leases == {}
        assert len(node.earnings) == 2  # nothing new to tell
        # Paid up to the close only: 3 blocks; the rest of the lock went back to the tenant.
        assert await on_chain(earned, chain, lease.fizz_id) == (21, 0, 21)
        assert await on_chain(order_summary, chain, lease.lease_id) == (2, 0)

        # A lease paid but not told yet when it is closed on chain: the close carries the
        # last total first.
        other = await on_chain(start_lease, chain, account, 7)
        await settle.settle_once(now=other.started + 4.0)  # two blocks: 14, untold
        await deploy(gateway, other)
        await on_chain(close_on_chain, chain, other)
        await settle.settle_once(now=other.started + 4.0)
        await wait_for(lambda: len(node.closes) == 2)
        assert node.earnings[2:] == [
            Earnings(lease_id=str(other.lease_id), amount="0.000014", token="uSPON")
        ]


async def test_a_workload_that_ended_on_the_node_is_closed_on_chain(
    chain: Chain, gateway: GatewayServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="devnet.market.settlement")
    account = chain.register()
    async with market_node(gateway, account) as node:
        lease = await on_chain(start_lease, chain, account, 8)
        await deploy(gateway, lease)
        settle = settlement(chain, gateway)
        await settle.settle_once(now=lease.started + 2.0)  # one block: 7
        assert await on_chain(lease_state, chain, lease.lease_id) == 0
        node.report(
            LeaseStatus(lease_id=str(lease.lease_id), state="failed", reason="out of memory")
        )
        await wait_for(lambda: not gateway.leases.find(str(lease.lease_id))[0].active)
        await settle.settle_once(now=lease.started + 3.0)
        assert await on_chain(lease_state, chain, lease.lease_id) == 1  # terminated
        assert "the lease failed on the node (out of memory)" in caplog.text
        await settle.settle_once(now=lease.started + 3600.0)
        assert settle.leases == {}
        assert await on_chain(earned, chain, lease.fizz_id) == (7, 0, 7)
        assert await on_chain(order_summary, chain, lease.lease_id) == (2, 0)
