"""Tenant escrow -> order -> bid -> match -> lease -> settlement -> fizz earnings -> withdrawal."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from devnet.chain.faucet import fund
from tests.contracts.helpers import USPON, Chain, reverts

MAX_PRICE = 2 * USPON  # per block
BLOCKS = 100
BID_PRICE = USPON + USPON // 2


@dataclass
class Market:
    tenant: str
    fizz_wallet: str
    fizz_id: int
    token: str


@pytest.fixture
def market(chain: Chain) -> Market:
    """A registered fizz behind the reference gateway and a tenant holding 1000 uSPON."""
    tenant, fizz_wallet = chain.accounts[3], chain.accounts[4]
    fizz_id, _ = chain.register_fizz(fizz_wallet)
    fund(chain.w3, chain.deployment, tenant, 0, 1000 * USPON)
    return Market(tenant, fizz_wallet, fizz_id, chain.c("USPON").address)


def deposit(chain: Chain, market: Market, amount: int) -> None:
    escrow = chain.c("EscrowUser").address
    chain.tx(chain.c("USPON").functions.approve(escrow, amount), market.tenant)
    chain.tx(chain.c("EscrowUser").functions.deposit(market.token, amount), market.tenant)


def create_order(chain: Chain, market: Market, max_price: int = MAX_PRICE) -> int:
    params = (max_price, BLOCKS, market.token, "n:test;r:us-east", 1, 0, [1])
    receipt = chain.tx(chain.c("OrderRequest").functions.createOrder(params), market.tenant)
    (event,) = chain.events(receipt, "OrderRequest", "OrderCreated")
    return int(event["args"]["orderId"])


def lease_up(chain: Chain, market: Market) -> int:
    """Deposit, order, bid, match and lease; returns the lease (= order) id."""
    deposit(chain, market, 500 * USPON)
    order_id = create_order(chain, market)
    chain.tx_as_gateway(chain.c("Bid").functions.placeBid(order_id, BID_PRICE, market.fizz_id))
    chain.tx(chain.c("Bid").functions.matchOrder(order_id, chain.gateway, market.fizz_id))
    chain.tx(
        chain.c("ComputeLease").functions.createLease(
            order_id, BID_PRICE, chain.gateway, market.fizz_id
        )
    )
    return order_id


def test_full_lease_flow(chain: Chain, market: Market) -> None:
    escrow = chain.c("EscrowUser").functions
    orders, bid, lease = chain.c("OrderRequest"), chain.c("Bid"), chain.c("ComputeLease")
    protocol, uspon = chain.c("EscrowProtocol"), chain.c("USPON").functions

    deposit(chain, market, 500 * USPON)
    assert escrow.getUserData(market.tenant, market.token).call() == [500 * USPON, 0]

    params = (MAX_PRICE, BLOCKS, market.token, "n:test;r:us-east", 1, 0, [1])
    receipt = chain.tx(orders.functions.createOrder(params), market.tenant)
    (created,) = chain.events(receipt, "OrderRequest", "OrderCreated")
    assert dict(created["args"]) == {
        "orderId": 1,
        "creator": market.tenant,
        "maxPrice": MAX_PRICE,
        "numOfBlocks": BLOCKS,
        "token": market.token,
        "specs": "n:test;r:us-east",
        "version": 1,
        "mode": 0,
    }
    locked = MAX_PRICE * BLOCKS
    assert escrow.getUserData(market.tenant, market.token).call() == [500 * USPON, locked]
    assert escrow.availableBalance(market.tenant, market.token).call() == 500 * USPON - locked

    receipt = chain.tx_as_gateway(bid.functions.placeBid(1, BID_PRICE, market.fizz_id))
    (placed,) = chain.events(receipt, "Bid", "BidPlaced")
    assert dict(placed["args"]) == {
        "orderId": 1,
        "bidPrice": BID_PRICE,
        "provider": chain.gateway,
        "fizz": market.fizz_id,
    }
    bids = bid.functions.getBids(1).call()
    assert [(b[0], b[1], b[2], b[3]) for b in bids] == [
        (chain.gateway, chain.provider_id, market.fizz_id, BID_PRICE)
    ]

    receipt = chain.tx(bid.functions.matchOrder(1, chain.gateway, market.fizz_id))
    (matched,) = chain.events(receipt, "Bid", "OrderMatched")
    assert dict(matched["args"]) == {
        "orderId": 1,
        "providerAddress": chain.gateway,
        "fizzId": market.fizz_id,
        "providerId": chain.provider_id,
        "acceptedPrice": BID_PRICE,
        "creator": market.tenant,
    }
    assert orders.functions.getOrderDetails(1).call()[9] == 3  # matched

    receipt = chain.tx(lease.functions.createLease(1, BID_PRICE, chain.gateway, market.fizz_id))
    (started,) = chain.events(receipt, "ComputeLease", "LeaseCreated")
    block = chain.w3.eth.get_block(receipt["blockNumber"])
    assert dict(started["args"]) == {
        "leaseId": 1,
        "fizzId": market.fizz_id,
        "requestId": 1,
        "acceptedPrice": BID_PRICE,
        "providerAddress": chain.gateway,
        "tenantAddress": market.tenant,
        "startBlock": block["number"],
        "startTime": block["timestamp"],
        "endTime": 0,
        "state": 0,
    }
    assert orders.functions.getOrderDetails(1).call()[9] == 1  # provisioned
    assert lease.functions.getActiveLeasesForFizz(market.fizz_id).call() == [1]

    # settlement: 10 blocks at the accepted price
    owed = 10 * BID_PRICE
    receipt = chain.tx(
        protocol.functions.transferLockedFizz(market.tenant, market.fizz_id, market.token, owed)
    )
    (moved,) = chain.events(receipt, "EscrowProtocol", "LockedTokenTransferedToFizz")
    assert dict(moved["args"]) == {
        "from": market.tenant,
        "fizzId": market.fizz_id,
        "token": market.token,
        "deposit": owed,
    }
    assert protocol.functions.fizzNodeEarnings(market.fizz_id, market.token).call() == [
        owed,
        0,
        owed,
    ]
    assert escrow.getUserData(market.tenant, market.token).call() == [
        500 * USPON - owed,
        locked - owed,
    ]

    before = uspon.balanceOf(market.fizz_wallet).call()
    receipt = chain.tx(
        protocol.functions.withdrawEarnings(
            market.fizz_wallet, market.fizz_id, market.token, owed - 5
        ),
        market.fizz_wallet,
    )
    (withdrawn,) = chain.events(receipt, "EscrowProtocol", "EarningsWithdrawn")
    assert withdrawn["args"]["amount"] == owed - 5
    assert uspon.balanceOf(market.fizz_wallet).call() - before == owed - 5
    assert protocol.functions.fizzNodeEarnings(market.fizz_id, market.token).call() == [
        owed,
        owed - 5,
        5,
    ]
    with reverts("InsufficientEarnings") as revert:
        chain.tx(
            protocol.functions.withdrawEarnings(
                market.fizz_wallet, market.fizz_id, market.token, 6
            ),
            market.fizz_wallet,
        )
    assert revert.args == (5, 6)

    receipt = chain.tx(lease.functions.closeLease(1), market.tenant)
    (closed,) = chain.events(receipt, "ComputeLease", "LeaseClosed")
    close_time = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert dict(closed["args"]) == {
        "leaseId": 1,
        "providerAddress": chain.gateway,
        "tenantAddress": market.tenant,
        "endTime": close_time,
        "state": 1,
    }
    assert lease.functions.leases(1).call()[9] == 1
    assert lease.functions.getActiveLeasesForFizz(market.fizz_id).call() == []
    assert orders.functions.getOrderDetails(1).call()[9] == 2  # closed
    # the rest of the lock is free again and can be withdrawn
    assert escrow.getUserData(market.tenant, market.token).call() == [500 * USPON - owed, 0]
    chain.tx(escrow.withdraw(market.token, 500 * USPON - owed), market.tenant)
    assert uspon.balanceOf(market.tenant).call() == 1000 * USPON - owed


def test_withdrawal_is_for_the_fizz_wallet_only(chain: Chain, market: Market) -> None:
    order_id = lease_up(chain, market)
    protocol = chain.c("EscrowProtocol").functions
    chain.tx(protocol.transferLockedFizz(market.tenant, market.fizz_id, market.token, 100))
    with reverts("NotFizzOwner"):
        chain.tx(
            protocol.withdrawEarnings(market.tenant, market.fizz_id, market.token, 1),
            market.tenant,
        )
    with reverts("InvalidAddress"):
        chain.tx(
            protocol.withdrawEarnings(market.tenant, market.fizz_id, market.token, 1),
            market.fizz_wallet,
        )
    with reverts("ZeroAmount"):
        chain.tx(
            protocol.withdrawEarnings(market.fizz_wallet, market.fizz_id, market.token, 0),
            market.fizz_wallet,
        )
    assert order_id == 1


def test_settlement_is_bounded_by_the_lease_lock(chain: Chain, market: Market) -> None:
    lease_up(chain, market)
    protocol = chain.c("EscrowProtocol").functions
    too_much = MAX_PRICE * BLOCKS + 1
    with reverts("NoActiveLease"):
        chain.tx(protocol.transferLockedFizz(market.tenant, market.fizz_id, market.token, too_much))
    with reverts("NoActiveLease"):  # a tenant without a lease on that fizz
        chain.tx(protocol.transferLockedFizz(chain.accounts[7], market.fizz_id, market.token, 1))
    with reverts("AccessControlUnauthorizedAccount"):
        chain.tx(
            protocol.transferLockedFizz(market.tenant, market.fizz_id, market.token, 1),
            market.fizz_wallet,
        )
    chain.tx_as_gateway(chain.c("ComputeLease").functions.closeLease(1))  # the provider may close


def test_protocol_fee_split(chain: Chain, market: Market) -> None:
    lease_up(chain, market)
    protocol = chain.c("EscrowProtocol").functions
    chain.tx(protocol.setFeePercentages(0, 10, 90))
    chain.tx(protocol.transferLockedFizz(market.tenant, market.fizz_id, market.token, 1000))
    assert protocol.fizzNodeEarnings(market.fizz_id, market.token).call() == [900, 0, 900]
    assert protocol.protocolEarnings(market.token).call() == 100
    with reverts("InvalidFeePercentages"):
        chain.tx(protocol.setFeePercentages(0, 10, 80))


def test_order_and_bid_rules(chain: Chain, market: Market) -> None:
    orders, bid = chain.c("OrderRequest").functions, chain.c("Bid").functions
    deposit(chain, market, 10 * USPON)
    with reverts("InsufficientBalance"):
        create_order(chain, market)  # 2 uSPON x 100 blocks > 10 uSPON
    order_id = create_order(chain, market, max_price=USPON // 100)
    with reverts("BidAboveMaxPrice"):
        chain.tx_as_gateway(bid.placeBid(order_id, USPON, market.fizz_id))
    with reverts("ProviderNotFound"):
        chain.tx(bid.placeBid(order_id, 1, market.fizz_id), market.fizz_wallet)
    other_wallet = chain.accounts[5]
    other_id, _ = chain.register_fizz(other_wallet, payments=[])
    with reverts("TokenNotAcceptedByFizz"):
        chain.tx_as_gateway(bid.placeBid(order_id, 1, other_id))
    with reverts("InvalidFizzForMode"):
        chain.tx_as_gateway(bid.placeBid(order_id, 1, 0))
    chain.tx_as_gateway(bid.placeBid(order_id, 1, market.fizz_id))
    with reverts("DuplicateBid"):
        chain.tx_as_gateway(bid.placeBid(order_id, 1, market.fizz_id))
    with reverts("BidNotFound"):
        chain.tx(bid.matchOrder(order_id, chain.gateway, other_id))
    with reverts("AccessControlUnauthorizedAccount"):
        chain.tx(bid.matchOrder(order_id, chain.gateway, market.fizz_id), market.tenant)

    # cancelling an open order releases its lock
    with reverts("NotOrderCreator"):
        chain.tx(orders.closeOrder(order_id), market.fizz_wallet)
    receipt = chain.tx(orders.closeOrder(order_id), market.tenant)
    assert chain.events(receipt, "OrderRequest", "OrderClosed")
    escrow = chain.c("EscrowUser").functions
    assert escrow.getUserData(market.tenant, market.token).call() == [10 * USPON, 0]
    with reverts("OrderNotOpen"):
        chain.tx_as_gateway(bid.placeBid(order_id, 1, market.fizz_id))
    with reverts("InvalidOrderState"):
        chain.tx(orders.closeOrder(order_id), market.tenant)


def test_a_lease_must_repeat_the_match(chain: Chain, market: Market) -> None:
    deposit(chain, market, 500 * USPON)
    order_id = create_order(chain, market)
    bid, lease = chain.c("Bid").functions, chain.c("ComputeLease").functions
    chain.tx_as_gateway(bid.placeBid(order_id, BID_PRICE, market.fizz_id))
    with reverts("InvalidOrderState"):  # not matched yet
        chain.tx(lease.createLease(order_id, 0, "0x" + "00" * 20, 0))
    chain.tx(bid.matchOrder(order_id, chain.gateway, market.fizz_id))
    with reverts("LeaseMismatch"):
        chain.tx(lease.createLease(order_id, BID_PRICE + 1, chain.gateway, market.fizz_id))
    chain.tx(lease.createLease(order_id, BID_PRICE, chain.gateway, market.fizz_id))
    with reverts("LeaseAlreadyExists"):
        chain.tx(lease.createLease(order_id, BID_PRICE, chain.gateway, market.fizz_id))
    with reverts("NotLeaseParty"):
        chain.tx(lease.closeLease(order_id), chain.accounts[8])
    chain.tx(lease.closeLease(order_id))  # the settler (admin) may close
    with reverts("LeaseNotActive"):
        chain.tx(lease.closeLease(order_id), market.tenant)


def test_escrow_deposit_rules(chain: Chain, market: Market) -> None:
    escrow = chain.c("EscrowUser").functions
    with reverts("UnregisteredToken"):
        chain.tx(escrow.deposit(chain.c("RewardToken").address, 1), market.tenant)
    with reverts("ZeroAmount"):
        chain.tx(escrow.deposit(market.token, 0), market.tenant)
    deposit(chain, market, 5)
    with reverts("InsufficientBalance"):
        chain.tx(escrow.withdraw(market.token, 6), market.tenant)
    with reverts("AccessControlUnauthorizedAccount"):
        chain.tx(escrow.lock(market.tenant, market.token, 1), market.tenant)
