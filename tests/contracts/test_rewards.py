"""FizzRewardsManager: per-era rewards, pending rewards, claims, slashes, pauses, denial."""

from __future__ import annotations

import pytest

from devnet.chain.artifacts import load_resource_seed
from tests.contracts.helpers import SPON, Chain, reverts


@pytest.fixture
def fizz(chain: Chain) -> tuple[str, str]:
    """A fizz wallet claiming 8 "gp" CPU units and one rtx4090, with its own reward wallet."""
    wallet, reward = chain.accounts[1], chain.accounts[2]
    chain.register_fizz(wallet, reward_wallet=reward)
    attributes = chain.c("FizzAttributeRegistry").functions
    chain.tx(attributes.submitAttributes("CPU", [1], [8]), wallet)
    rtx4090 = next(r.id for r in load_resource_seed()["GPU"].resources if r.name == "rtx4090")
    chain.tx(attributes.submitAttributes("GPU", [rtx4090], [1]), wallet)
    return wallet, reward


def test_categories_and_era_config(chain: Chain) -> None:
    rewards = chain.c("FizzRewardsManager").functions
    assert rewards.categoryCount().call() == 2
    assert rewards.categories(0).call() == [
        "CPU",
        chain.deployment.address("ResourceRegistryCPU"),
        25 * SPON,
    ]
    assert rewards.categories(1).call() == [
        "GPU",
        chain.deployment.address("ResourceRegistryGPU"),
        500 * SPON,
    ]
    assert rewards.eraSeconds().call() == chain.deployment.era_seconds == 120
    assert (
        rewards.SLASHER_ROLE().call()
        == chain.c("AccessControlManager").functions.SLASHER_ROLE().call()
    )


def test_rewards_per_era_follow_the_formula(chain: Chain, fizz: tuple[str, str]) -> None:
    wallet, _ = fizz
    # units x multiplier x base: 8 x 0.2 x 25 SPON (CPU) + 1 x 1 x 500 SPON (rtx4090)
    expected = 8 * 2 * 25 * SPON // 10 + 500 * SPON
    assert expected == 540 * SPON
    assert chain.c("FizzRewardsManager").functions.getFizzRewardsPerEra(wallet).call() == expected
    # an unknown wallet earns nothing
    assert (
        chain.c("FizzRewardsManager").functions.getFizzRewardsPerEra(chain.accounts[7]).call() == 0
    )


def test_pending_rewards_are_claimed_to_the_reward_wallet(
    chain: Chain, fizz: tuple[str, str]
) -> None:
    wallet, reward = fizz
    rewards, spon = chain.c("FizzRewardsManager"), chain.c("RewardToken")
    per_era = rewards.functions.getFizzRewardsPerEra(wallet).call()

    receipt = chain.tx(rewards.functions.addFizzPendingRewards([wallet], [per_era]))
    (added,) = chain.events(receipt, "FizzRewardsManager", "FizzPendingRewardsAdded")
    assert dict(added["args"]) == {"fizz": wallet, "amount": per_era}
    chain.tx(rewards.functions.addFizzPendingRewards([wallet], [per_era // 2]))
    pending = rewards.functions.pendingRewards(wallet).call()
    assert pending == per_era + per_era // 2
    assert rewards.functions.getAccRewardsForFizz(wallet).call() == pending

    chain.travel(3 * chain.deployment.era_seconds)
    before = spon.functions.balanceOf(reward).call()
    receipt = chain.tx(rewards.functions.claimRewards(wallet), wallet)
    (claimed,) = chain.events(receipt, "FizzRewardsManager", "FizzRewardClaimed")
    assert dict(claimed["args"]) == {"fizz": wallet, "rewardAmount": pending}
    assert spon.functions.balanceOf(reward).call() - before == pending
    assert spon.functions.balanceOf(wallet).call() == 0
    assert rewards.functions.pendingRewards(wallet).call() == 0
    state = rewards.functions.getFizz(wallet).call()
    assert state[0] == wallet
    assert state[1] == rewards.functions.getCurrentEra().call() >= 3  # lastClaimedEra
    with reverts("NoPendingRewards"):
        chain.tx(rewards.functions.claimRewards(wallet), wallet)


def test_settlement_needs_the_slasher_or_admin_role(chain: Chain, fizz: tuple[str, str]) -> None:
    wallet, _ = fizz
    rewards = chain.c("FizzRewardsManager").functions
    with reverts("AccessControlUnauthorizedAccount"):
        chain.tx(rewards.addFizzPendingRewards([wallet], [1]), wallet)
    with reverts("AccessControlUnauthorizedAccount"):
        chain.tx(rewards.setSlashErasForFizzNodes([wallet], [0], [10]), wallet)
    with reverts("LengthMismatch"):
        chain.tx(rewards.addFizzPendingRewards([wallet], [1, 2]))
    with reverts("FizzNodeNotFound"):
        chain.tx(rewards.claimRewards(chain.accounts[8]))


def test_era_advances_with_time(chain: Chain) -> None:
    rewards = chain.c("FizzRewardsManager").functions
    era_seconds = chain.deployment.era_seconds
    start = rewards.getCurrentEra().call()
    chain.travel(era_seconds)
    assert rewards.getCurrentEra().call() == start + 1
    chain.travel(5 * era_seconds)
    assert rewards.getCurrentEra().call() == start + 6
    genesis = rewards.genesisTimestamp().call()
    assert rewards.getCurrentEra().call() == (chain.now() - genesis) // era_seconds
    chain.tx(rewards.setEraConfig(genesis, 24 * 3600))
    assert rewards.getCurrentEra().call() == 0
    with reverts("InvalidEraConfig"):
        chain.tx(rewards.setEraConfig(genesis, 0))
    with reverts("InvalidEraConfig"):
        chain.tx(rewards.setEraConfig(chain.now() + 1000, 60))


def test_slashing_reduces_pending_and_can_be_undone(chain: Chain, fizz: tuple[str, str]) -> None:
    wallet, _ = fizz
    rewards = chain.c("FizzRewardsManager").functions
    per_era = rewards.getFizzRewardsPerEra(wallet).call()
    chain.tx(rewards.addFizzPendingRewards([wallet], [3 * per_era]))
    chain.travel(2 * chain.deployment.era_seconds)

    receipt = chain.tx(rewards.setSlashErasForFizzNodes([wallet, wallet], [0, 1], [25, 100]))
    slashed = chain.events(receipt, "FizzRewardsManager", "FizzSlashed")
    assert [dict(e["args"]) for e in slashed] == [
        {"fizz": wallet, "era": 0, "slashedAmount": per_era // 4, "percentage": 25},
        {"fizz": wallet, "era": 1, "slashedAmount": per_era, "percentage": 100},
    ]
    updated = chain.events(receipt, "FizzRewardsManager", "FizzPendingRewardsUpdated")
    assert updated[-1]["args"]["amount"] == 3 * per_era - per_era // 4 - per_era
    assert rewards.pendingRewards(wallet).call() == 3 * per_era - per_era // 4 - per_era
    assert rewards.getFizzSlashedEras(wallet).call() == [(0, per_era // 4), (1, per_era)]
    assert rewards.getFizz(wallet).call()[3] == 2  # slashedEras

    with reverts("EraAlreadySlashed"):
        chain.tx(rewards.setSlashErasForFizzNodes([wallet], [1], [10]))
    with reverts("InvalidPercentage"):
        chain.tx(rewards.setSlashErasForFizzNodes([wallet], [2], [101]))
    with reverts("InvalidEra"):
        chain.tx(rewards.setSlashErasForFizzNodes([wallet], [50], [10]))

    chain.tx(rewards.removeSlashErasForFizzes([wallet]))
    assert rewards.pendingRewards(wallet).call() == 3 * per_era
    assert rewards.getFizzSlashedEras(wallet).call() == []
    assert rewards.getAccRewardsForFizz(wallet).call() == 3 * per_era


def test_a_slash_never_takes_more_than_is_pending(chain: Chain, fizz: tuple[str, str]) -> None:
    wallet, _ = fizz
    rewards = chain.c("FizzRewardsManager").functions
    chain.tx(rewards.addFizzPendingRewards([wallet], [10]))
    receipt = chain.tx(rewards.setSlashErasForFizzNodes([wallet], [0], [50]))
    (slashed,) = chain.events(receipt, "FizzRewardsManager", "FizzSlashed")
    assert slashed["args"]["slashedAmount"] == 10
    assert rewards.pendingRewards(wallet).call() == 0


def test_pause_and_denial_stop_accrual_and_claims(chain: Chain, fizz: tuple[str, str]) -> None:
    wallet, reward = fizz
    rewards = chain.c("FizzRewardsManager").functions
    chain.tx(rewards.addFizzPendingRewards([wallet], [7 * SPON]))

    receipt = chain.tx(rewards.pauseRewardsForFizzNodes([wallet]))
    (paused,) = chain.events(receipt, "FizzRewardsManager", "FizzPaused")
    assert paused["args"]["fizz"] == wallet
    assert rewards.isPausedFizz(wallet).call() is True
    state = rewards.getFizz(wallet).call()
    assert (state[4], state[6]) == (True, 7 * SPON)  # isPaused, accumulatedRewardsBeforePause
    with reverts("FizzRewardsPaused"):
        chain.tx(rewards.claimRewards(wallet), wallet)
    with reverts("FizzRewardsPaused"):
        chain.tx(rewards.addFizzPendingRewards([wallet], [1]))
    receipt = chain.tx(rewards.unpauseRewardsForFizzNodes([wallet]))
    assert chain.events(receipt, "FizzRewardsManager", "FizzUnpaused")
    assert rewards.isPausedFizz(wallet).call() is False

    chain.tx(rewards.setDenied([wallet], [True]))
    assert rewards.isDenied(wallet).call() is True
    with reverts("FizzDenied"):
        chain.tx(rewards.claimRewards(wallet), wallet)
    with reverts("FizzDenied"):
        chain.tx(rewards.addFizzPendingRewards([wallet], [1]))
    chain.tx(rewards.setDenied([wallet], [False]))
    chain.tx(rewards.claimRewards(wallet), chain.accounts[9])  # anyone may trigger the claim
    assert chain.c("RewardToken").functions.balanceOf(reward).call() == 7 * SPON


def test_only_minters_mint_spon(chain: Chain) -> None:
    spon = chain.c("RewardToken").functions
    assert (spon.name().call(), spon.symbol().call(), spon.decimals().call()) == (
        "Spheron",
        "SPON",
        18,
    )
    with reverts("AccessControlUnauthorizedAccount"):
        chain.tx(spon.mint(chain.accounts[1], 1), chain.accounts[1])
