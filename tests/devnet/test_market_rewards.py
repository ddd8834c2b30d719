"""Era rewards by the uptime rules (devnet/market/rewards.py, spheron-network.md §4.1):
``shortfall`` with the CPU-only (50/25/25) and GPU (20/10/10/60) weights, ``era_reward`` with
the 50 % uptime floor, and EraRewards on the in-process chain: eras counted from the chain's
``genesisTimestamp``, each node's uptime and ``allocatable`` against its registered spec, the
rewards added with ``addFizzPendingRewards`` when the era ends (a denied node does not stop the
others being paid). Times are passed to ``sample`` explicitly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount
from hypothesis import given, settings
from hypothesis import strategies as st

from devnet.chain.tx import send
from devnet.gateway.sessions import Session
from devnet.market.rewards import MIN_UPTIME, EraRewards, era_reward, shortfall
from devnet.market.watch import Sender
from gateway_client.messages import Capacity, Resources
from gateway_client.protocol import State

from .gateway_env import CAPACITY, SPEC, Chain, devnet_as_deployed, node_session

pytestmark = pytest.mark.usefixtures("one_chain_thread")

GIB = 1024**3
GB = 1000**3
SPON = 10**18
PER_ERA = 10 * SPON
"""Each test node claims 2 CPU threads of the ``gp`` resource (multiplier 0.2) in the CPU
category (25 SPON per unit): 2 x 0.2 x 25 = 10 SPON per era (getFizzRewardsPerEra)."""
GPU_SPEC = "linux,gpu,2,16,100,rtx4090,1,us-east,NA,x86_64,0.1.0"


# ---- shortfall and era_reward --------------------------------------------------------------------


def test_shortfall_weights_without_a_gpu() -> None:
    claimed = {"cpu": 8, "memory": 16, "storage": 200}
    assert shortfall(claimed, claimed) == 0
    # CPU 6 of 8: 0.25 short x 0.5 = 0.125; storage 100 of 200: 0.5 short x 0.25 = 0.125.
    assert shortfall(claimed, {"cpu": 6, "memory": 16, "storage": 100}) == Decimal("0.25")
    # RAM 12 of 16: 0.25 short x 0.25 = 0.0625.
    assert shortfall(claimed, {"cpu": 8, "memory": 12, "storage": 200}) == Decimal("0.0625")
    # Nothing offered: 0.5 + 0.25 + 0.25 = all of it.
    assert shortfall(claimed, {}) == 1
    # More than claimed counts as what was claimed.
    assert shortfall(claimed, {"cpu": 32, "memory": 64, "storage": 2000}) == 0


def test_shortfall_weights_with_a_gpu() -> None:
    claimed = {"cpu": 8, "memory": 16, "storage": 200, "gpu": 1}
    # No GPU offered: 1 x 0.6; RAM 8 of 16: 0.5 x 0.1 = 0.05 -> 0.65.
    assert shortfall(claimed, {"cpu": 8, "memory": 8, "storage": 200}) == Decimal("0.65")
    # CPU 4 of 8: 0.5 x 0.2 = 0.1; storage 150 of 200: 0.25 x 0.1 = 0.025 -> 0.125.
    offered = {"cpu": 4, "memory": 16, "storage": 150, "gpu": 1}
    assert shortfall(claimed, offered) == Decimal("0.125")
    assert shortfall(claimed, {}) == 1  # 0.2 + 0.1 + 0.1 + 0.6


def test_resources_not_claimed_are_not_counted() -> None:
    # Storage claimed 0: only CPU (0.5) and RAM (0.25) can fall short; RAM 0 of 16 -> 0.25.
    assert shortfall({"cpu": 4, "memory": 16, "storage": 0}, {"cpu": 4}) == Decimal("0.25")
    assert shortfall({}, {}) == 0


units = st.integers(0, 4096)
claims = st.fixed_dictionaries({"cpu": units, "memory": units, "storage": units, "gpu": units})


@settings(max_examples=300, deadline=None)
@given(claims, claims, claims)
def test_shortfall_is_a_fraction_that_more_offered_never_raises(
    claimed: dict[str, int], offered: dict[str, int], extra: dict[str, int]
) -> None:
    lack = shortfall(claimed, offered)
    assert 0 <= lack <= 1
    more = {name: offered[name] + extra[name] for name in offered}
    assert shortfall(claimed, more) <= lack


def test_era_reward_needs_half_the_era_and_loses_the_shortfall() -> None:
    assert MIN_UPTIME == 0.5
    assert era_reward(PER_ERA, 0.4999, Decimal(0)) == 0
    assert era_reward(PER_ERA, 0.5, Decimal(0)) == PER_ERA  # half the era is enough
    assert era_reward(PER_ERA, 1.0, Decimal("0.125")) == 8_750_000_000_000_000_000  # x 0.875
    assert era_reward(PER_ERA, 0.75, Decimal("0.65")) == 3_500_000_000_000_000_000  # x 0.35
    assert era_reward(PER_ERA, 1.0, Decimal(1)) == 0
    assert era_reward(10, 1.0, Decimal("0.33")) == 6  # 6.7 SPON wei: whole wei, rounded down


# ---- EraRewards on the chain ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    with devnet_as_deployed(tmp_path_factory.mktemp("home")) as deployed:
        yield deployed


def claiming_node(chain: Chain, spec: str = SPEC) -> LocalAccount:
    """A registered node with ``spec`` that claims 2 CPU threads (``gp``, resource 1)."""
    return chain.claiming_node(spec)


def capacity(cpu: int, memory: int, storage: int, gpu: int = 0, *, free: bool = True) -> Capacity:
    """A capacity report offering these (``allocatable``); ``free=False``: all of it in use."""
    offered = Resources(cpu=cpu, memory=memory, storage_ephemeral=storage, gpu=gpu)
    return Capacity(
        allocatable=offered,
        available=offered if free else Resources(cpu=0, memory=0, storage_ephemeral=0),
        bandwidth="100;50",
        version="0;0",
        os="linux",
        arch="x86_64",
    )


def era_rewards(chain: Chain, sessions: list[Session]) -> EraRewards:
    """The gateway's era rewards for ``sessions``, sent from the settler (SLASHER_ROLE)."""
    sender = Sender(chain.w3, chain.deployment.settler)
    return EraRewards(chain.w3, chain.deployment, sessions, sender)


def close(session: Session) -> None:
    session.connection.protocol.state = State.CLOSED


async def test_an_era_pays_by_uptime_and_offered_resources_when_it_ends(chain: Chain) -> None:
    a, b, c = (claiming_node(chain) for _ in range(3))
    d = claiming_node(chain, GPU_SPEC)
    rewards_manager = chain.deployment.contract(chain.w3, "FizzRewardsManager").functions
    for node in (a, b, c, d):
        assert rewards_manager.getFizzRewardsPerEra(node.address).call() == PER_ERA
    genesis, length = chain.era_clock()
    assert length == 120  # deploy_all's devnet era

    full = capacity(2000, 16 * GIB, 100 * GB)  # exactly the spec: 2 threads, 16, 100 GB
    sessions = [
        # A: CAPACITY offers 4 threads, 8 GiB (of 16 claimed), 100 GiB = 107 GB:
        #    RAM 0.5 short x 0.25 = 0.125 -> 10 SPON x 0.875 = 8.75 SPON.
        node_session(a.address, 1, capacity=CAPACITY),
        node_session(b.address, 2, capacity=full),  # B: online half the era only
        node_session(c.address, 3, capacity=full),  # C: online 58 s: under half
        # D: claims a GPU and offers none: 0.6 short -> 4 SPON. All of it in use by leases
        #    ("available" 0) does not count against it.
        node_session(d.address, 4, capacity=capacity(2000, 16 * GIB, 100 * GB, free=False)),
    ]
    before = {node.address: chain.pending_rewards(node.address) for node in (a, b, c, d)}
    rewards = EraRewards(
        chain.w3, chain.deployment, sessions, Sender(chain.w3, chain.deployment.settler)
    )
    for second in range(2, 120, 2):  # every 2 s of era 0, from genesis + 2 s to + 118 s
        if second == 60:
            close(sessions[2])  # C: 29 samples x 2 s = 58 s
        if second == 62:
            close(sessions[1])  # B: 30 samples x 2 s = 60 s = 50 %
        await rewards.sample(2.0, now=genesis + second)
    await rewards.sample(2.0, now=genesis + length - 0.001)  # still era 0: nothing paid yet
    assert rewards.paid == []
    await rewards.sample(2.0, now=genesis + length)  # era 1 begins: era 0 is paid
    expected = [
        (0, a.address, 8_750_000_000_000_000_000),
        (0, b.address, PER_ERA),
        (0, d.address, 4 * SPON),
    ]
    assert rewards.paid == expected
    for _era, address, amount in expected:
        assert chain.pending_rewards(address) == before[address] + amount
    assert chain.pending_rewards(c.address) == before[c.address]

    # Era 1: A is denied rewards; the batch reverts and the others are still paid, one by one.
    admin = chain.deployment.admin
    send(chain.w3, rewards_manager.setDenied([a.address], [True]), admin)
    for second in range(length + 2, 2 * length, 2):
        await rewards.sample(2.0, now=genesis + second)
    await rewards.sample(2.0, now=genesis + 2 * length)
    assert rewards.paid[3:] == [(1, d.address, 4 * SPON)]
    assert chain.pending_rewards(a.address) == before[a.address] + 8_750_000_000_000_000_000
    assert chain.pending_rewards(d.address) == before[d.address] + 8 * SPON


async def test_eras_are_counted_from_genesis_and_a_late_start_counts_what_it_saw(
    chain: Chain,
) -> None:
    node = claiming_node(chain)
    session = node_session(node.address, 1, capacity=capacity(2000, 16 * GIB, 100 * GB))
    genesis, length = chain.era_clock()
    before = chain.pending_rewards(node.address)
    rewards = EraRewards(
        chain.w3, chain.deployment, [session], Sender(chain.w3, chain.deployment.settler)
    )
    # The gateway starts halfway through era 5 (genesis + 5 x 120 + 60) and sees 60 s of it.
    for second in range(5 * length + 60, 6 * length, 2):
        await rewards.sample(2.0, now=genesis + second)
    assert rewards.paid == []
    await rewards.sample(2.0, now=genesis + 6 * length)
    assert rewards.paid == [(5, node.address, PER_ERA)]
    assert chain.pending_rewards(node.address) == before + PER_ERA
    # Era 6 seen for 58 s only (and the 2 s counted at its start): 60 s, exactly half.
    for second in range(6 * length + 2, 6 * length + 60, 2):
        await rewards.sample(2.0, now=genesis + second)
    close(session)
    await rewards.sample(2.0, now=genesis + 6 * length + 100)
    await rewards.sample(2.0, now=genesis + 7 * length + 1)
    assert rewards.paid[1:] == [(6, node.address, PER_ERA)]


async def test_a_restarted_gateway_goes_on_counting_the_era_and_never_pays_one_twice(
    chain: Chain, tmp_path: Path
) -> None:
    node = claiming_node(chain)
    session = node_session(node.address, 1, capacity=capacity(2000, 16 * GIB, 100 * GB))
    genesis, length = chain.era_clock()
    state = tmp_path / "gateway-state.uptime.json"
    before = chain.pending_rewards(node.address)

    def gateway_run() -> EraRewards:
        sender = Sender(chain.w3, chain.deployment.settler)
        return EraRewards(chain.w3, chain.deployment, [session], sender, state_path=state)

    era_20 = genesis + 20 * length
    first = gateway_run()
    for second in range(2, 60, 2):  # saved every 10 s: up to the sample at 52 s
        await first.sample(2.0, now=era_20 + second)
    # The gateway dies without a goodbye; the next one reads what the first saved. Alone, its
    # 58 s would be under half the era: with the 52 s saved, the era is paid in full.
    second_run = gateway_run()
    for second in range(62, 120, 2):
        await second_run.sample(2.0, now=era_20 + second)
    await second_run.sample(2.0, now=era_20 + length)  # era 21 begins (2 s of it counted)
    assert second_run.paid == [(20, node.address, PER_ERA)]

    # Another restart: era 20 was saved away before it was paid, so it is not paid again;
    # era 21 goes on from the 2 s saved at its start (58 + 2 s: exactly half).
    third = gateway_run()
    for second in range(62, 120, 2):
        await third.sample(2.0, now=era_20 + length + second)
    await third.sample(2.0, now=era_20 + 2 * length)
    assert third.paid == [(21, node.address, PER_ERA)]
    assert chain.pending_rewards(node.address) == before + 2 * PER_ERA


async def test_an_unusable_uptime_file_is_counted_afresh(chain: Chain, tmp_path: Path) -> None:
    node = claiming_node(chain)
    session = node_session(node.address, 1, capacity=capacity(2000, 16 * GIB, 100 * GB))
    genesis, length = chain.era_clock()
    state = tmp_path / "gateway-state.uptime.json"
    state.write_text("{not json")
    sender = Sender(chain.w3, chain.deployment.settler)
    rewards = EraRewards(chain.w3, chain.deployment, [session], sender, state_path=state)
    era_30 = genesis + 30 * length
    for second in range(0, length + 1, 2):
        await rewards.sample(2.0, now=era_30 + second)
    assert rewards.paid == [(30, node.address, PER_ERA)]
    saved = json.loads(state.read_text())  # rewritten whole: era 31's first sample only
    assert (saved["genesis"], saved["era_seconds"]) == (genesis, length)
    assert list(saved["eras"]) == ["31"]
