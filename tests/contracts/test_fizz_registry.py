"""FizzRegistry on the in-process chain: registration, its refusals, updates and admin calls."""

from __future__ import annotations

from web3 import Web3

from tests.contracts.helpers import DEFAULT_SPEC, STATUS, Chain, reverts

ZERO = "0x0000000000000000000000000000000000000000"


def test_register_emits_fizz_node_added_with_every_field(chain: Chain) -> None:
    wallet, reward = chain.accounts[1], chain.accounts[2]
    uspon = chain.c("USPON").address
    fizz_id, receipt = chain.register_fizz(wallet, reward_wallet=reward)

    (event,) = chain.events(receipt, "FizzRegistry", "FizzNodeAdded")
    block_time = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert fizz_id == 1
    assert dict(event["args"]) == {
        "fizzId": 1,
        "walletAddress": wallet,
        "providerId": chain.provider_id,
        "spec": DEFAULT_SPEC,
        "paymentsAccepted": [uspon],
        "status": STATUS["Registered"],
        "joinTimestamp": block_time,
        "rewardWallet": reward,
    }
    # topic0 is the real network's (spheron-network.md §3.2: 0xbac01429…e09812)
    topic0 = receipt["logs"][0]["topics"][0].hex()
    assert topic0.removeprefix("0x").startswith("bac01429") and topic0.endswith("e09812")

    registry = chain.c("FizzRegistry").functions
    assert registry.getFizz(1).call() == [
        chain.provider_id,
        DEFAULT_SPEC,
        [uspon],
        STATUS["Registered"],
        block_time,
        wallet,
        reward,
    ]
    assert registry.getFizzNodeByAddress(wallet).call() == [
        chain.provider_id,
        DEFAULT_SPEC,
        [uspon],
        STATUS["Registered"],
        block_time,
        reward,
    ]
    assert registry.getFizzId(wallet).call() == 1
    assert registry.isRegisteredFizzNode(wallet).call() is True
    assert registry.getFizzNodeStatus(wallet).call() == STATUS["Registered"]
    assert registry.isActiveFizzNode(1).call() is False  # Registered, not Active
    assert registry.nextFizzId().call() == 2
    assert registry.getFizzNodeRewardWalletByAddress(wallet).call() == reward
    assert registry.getFizzNodeRewardWalletById(1).call() == reward
    assert registry.getFizzAddressByRewardAddress(reward).call() == wallet
    assert registry.isTokenAcceptedByFizz(1, uspon).call() is True
    assert registry.getAllFizzNodes().call() == [
        (1, chain.provider_id, DEFAULT_SPEC, wallet, [uspon], 1, block_time, reward)
    ]


def test_ids_count_up_from_one(chain: Chain) -> None:
    ids = [chain.register_fizz(chain.accounts[i])[0] for i in (1, 2, 3)]
    assert ids == [1, 2, 3]
    rows = chain.c("FizzRegistry").functions.getAllFizzNodes().call()
    assert [row[0] for row in rows] == [1, 2, 3]
    assert [row[3] for row in rows] == chain.accounts[1:4]


def test_registering_twice_is_refused(chain: Chain) -> None:
    chain.register_fizz(chain.accounts[1])
    with reverts("FizzAlreadyRegistered"):
        chain.register_fizz(chain.accounts[1])


def test_only_the_wallet_itself_may_register(chain: Chain) -> None:
    registry = chain.c("FizzRegistry")
    params = (chain.provider_id, "s", chain.accounts[1], [], chain.accounts[1])
    with reverts("InvalidAddress"):
        chain.tx(registry.functions.addFizzNode(params), chain.accounts[2])


def test_a_reward_wallet_is_required(chain: Chain) -> None:
    with reverts("InvalidAddress"):
        chain.register_fizz(chain.accounts[1], reward_wallet=ZERO)


def test_whitelist_gates_registration_when_auto_register_is_off(chain: Chain) -> None:
    registry = chain.c("FizzRegistry")
    assert registry.functions.autoRegister().call() is True  # the devnet's default
    receipt = chain.tx(registry.functions.updateAutoRegisterState(False))
    (event,) = chain.events(receipt, "FizzRegistry", "AutoRegisterStatedUpdated")
    assert event["args"]["state"] is False

    with reverts("NotWhitelisted"):
        chain.register_fizz(chain.accounts[1])

    receipt = chain.tx(registry.functions.addAddressesToWhitelist([chain.accounts[1]]))
    (event,) = chain.events(receipt, "FizzRegistry", "FizzAddressWhitelisted")
    assert event["args"]["addresses"] == [chain.accounts[1]]
    assert registry.functions.isWhitelisted(chain.accounts[1]).call() is True
    assert registry.functions.whitelistedFizzes(chain.accounts[1]).call() is True
    fizz_id, _ = chain.register_fizz(chain.accounts[1])
    assert fizz_id == 1
    with reverts("AlreadySet"):
        chain.tx(registry.functions.updateAutoRegisterState(False))


def test_the_provider_must_exist(chain: Chain) -> None:
    with reverts("ProviderNotFound"):
        chain.register_fizz(chain.accounts[1], provider_id=99)


def test_payment_tokens_must_be_registered(chain: Chain) -> None:
    stranger = chain.c("RewardToken").address  # SPON is not a payment token
    with reverts("UnregisteredToken"):
        chain.register_fizz(chain.accounts[1], payments=[stranger])


def test_spec_update_emits_event(chain: Chain) -> None:
    wallet = chain.accounts[1]
    fizz_id, _ = chain.register_fizz(wallet)
    registry = chain.c("FizzRegistry")
    receipt = chain.tx(registry.functions.updateFizzSpec("linux,16,32,512"), wallet)
    (event,) = chain.events(receipt, "FizzRegistry", "FizzNodeSpecUpdated")
    assert dict(event["args"]) == {"fizzId": fizz_id, "spec": "linux,16,32,512"}
    assert registry.functions.getFizz(fizz_id).call()[1] == "linux,16,32,512"


def test_updates_need_a_registered_caller(chain: Chain) -> None:
    registry = chain.c("FizzRegistry")
    with reverts("FizzNodeNotFound"):
        chain.tx(registry.functions.updateFizzSpec("x"), chain.accounts[1])
    with reverts("FizzNodeNotFound"):
        registry.functions.getFizz(1).call()
    with reverts("FizzNodeNotFound"):
        registry.functions.getFizzId(chain.accounts[1]).call()
    assert registry.functions.addressToFizzId(chain.accounts[1]).call() == 0
    assert registry.functions.getFizzNodeStatus(chain.accounts[1]).call() == 0


def test_provider_change_relinks_the_fizz(chain: Chain) -> None:
    wallet = chain.accounts[1]
    fizz_id, _ = chain.register_fizz(wallet)
    registry, providers = chain.c("FizzRegistry"), chain.c("ProviderRegistry")
    chain.tx(providers.functions.addProvider("{}", "10.0.0.2", "", []), chain.accounts[5])
    second = providers.functions.addressToProviderId(chain.accounts[5]).call()
    assert second == chain.provider_id + 1

    with reverts("AlreadySet"):
        chain.tx(registry.functions.updateFizzProviderId(chain.provider_id), wallet)
    with reverts("ProviderNotFound"):
        chain.tx(registry.functions.updateFizzProviderId(42), wallet)
    receipt = chain.tx(registry.functions.updateFizzProviderId(second), wallet)
    (event,) = chain.events(receipt, "FizzRegistry", "FizzNodeProviderIdUpdated")
    assert dict(event["args"]) == {"fizzId": fizz_id, "providerId": second}
    assert registry.functions.isFizzLinked(fizz_id, second).call() is True
    assert registry.functions.isFizzLinked(fizz_id, chain.provider_id).call() is False


def test_payment_add_and_remove(chain: Chain) -> None:
    wallet = chain.accounts[1]
    fizz_id, _ = chain.register_fizz(wallet, payments=[])
    registry, tokens = chain.c("FizzRegistry"), chain.c("TokenRegistry")
    uspon, spon = chain.c("USPON").address, chain.c("RewardToken").address

    receipt = chain.tx(registry.functions.addAcceptedPayment(uspon), wallet)
    (event,) = chain.events(receipt, "FizzRegistry", "FizzNodePaymentAdded")
    assert dict(event["args"]) == {"fizzId": fizz_id, "tokenAddress": uspon}
    with reverts("TokenAlreadyAccepted"):
        chain.tx(registry.functions.addAcceptedPayment(uspon), wallet)
    with reverts("UnregisteredToken"):
        chain.tx(registry.functions.addAcceptedPayment(spon), wallet)

    chain.tx(tokens.functions.addToken(spon))
    chain.tx(registry.functions.addAcceptedPayment(spon), wallet)
    assert registry.functions.getFizz(fizz_id).call()[2] == [uspon, spon]

    receipt = chain.tx(registry.functions.removeAcceptedPayment(uspon), wallet)
    (event,) = chain.events(receipt, "FizzRegistry", "FizzNodePaymentRemoved")
    assert dict(event["args"]) == {"fizzId": fizz_id, "tokenAddress": uspon}
    assert registry.functions.isTokenAcceptedByFizz(fizz_id, uspon).call() is False
    with reverts("TokenNotFound"):
        chain.tx(registry.functions.removeAcceptedPayment(uspon), wallet)


def test_status_is_admin_only_and_blocks_inactive_nodes(chain: Chain) -> None:
    wallet = chain.accounts[1]
    fizz_id, _ = chain.register_fizz(wallet)
    registry = chain.c("FizzRegistry")

    with reverts("AccessControlUnauthorizedAccount") as revert:
        chain.tx(registry.functions.setFizzStatus(wallet, STATUS["Active"]), wallet)
    assert revert.args == (wallet, bytes(Web3.keccak(text="ADMIN_ROLE")))

    receipt = chain.tx(registry.functions.setFizzStatus(wallet, STATUS["Active"]))
    (event,) = chain.events(receipt, "FizzRegistry", "FizzStatusUpdated")
    assert dict(event["args"]) == {"FizzId": fizz_id, "status": STATUS["Active"]}
    assert registry.functions.isActiveFizzNode(fizz_id).call() is True
    with reverts("StatusUnchanged"):
        chain.tx(registry.functions.setFizzStatus(wallet, STATUS["Active"]))

    chain.tx(registry.functions.setFizzStatus(wallet, STATUS["Suspended"]))
    with reverts("InactiveFizzNode"):
        chain.tx(registry.functions.updateFizzSpec("x"), wallet)
    chain.tx(registry.functions.setFizzStatus(wallet, STATUS["Deactivated"]))
    with reverts("InactiveFizzNode"):
        chain.tx(registry.functions.addAcceptedPayment(chain.c("USPON").address), wallet)
    chain.tx(registry.functions.setFizzStatus(wallet, STATUS["Maintenance"]))
    chain.tx(registry.functions.updateFizzSpec("back"), wallet)


def test_admin_updates_emit_fizz_updated(chain: Chain) -> None:
    fizz_id, _ = chain.register_fizz(chain.accounts[1])
    registry = chain.c("FizzRegistry")
    receipt = chain.tx(registry.functions.adminUpdateFizzSpec(fizz_id, "admin-spec"))
    (spec_event,) = chain.events(receipt, "FizzRegistry", "FizzNodeSpecUpdated")
    (updated,) = chain.events(receipt, "FizzRegistry", "FizzUpdated")
    assert spec_event["args"]["spec"] == "admin-spec"
    assert dict(updated["args"]) == {"fizzId": fizz_id, "status": STATUS["Registered"]}
    with reverts("AlreadySet"):
        chain.tx(registry.functions.adminUpdateFizzProviderId(fizz_id, chain.provider_id))


def test_removal_frees_the_wallet(chain: Chain) -> None:
    wallet = chain.accounts[1]
    fizz_id, _ = chain.register_fizz(wallet)
    registry = chain.c("FizzRegistry")
    receipt = chain.tx(registry.functions.removeFizzNode(fizz_id))
    (event,) = chain.events(receipt, "FizzRegistry", "FizzNodeRemoved")
    assert event["args"]["fizzId"] == fizz_id
    assert registry.functions.isRegisteredFizzNode(wallet).call() is False
    assert registry.functions.getAllFizzNodes().call() == []
    assert registry.functions.getFizzAddressByRewardAddress(wallet).call() == ZERO
    with reverts("FizzNodeNotFound"):
        chain.tx(registry.functions.removeFizzNode(fizz_id))
    new_id, _ = chain.register_fizz(wallet)
    assert new_id == fizz_id + 1  # ids are never reused
    chain.tx(registry.functions.adminRemoveFizzes([wallet]))
    assert registry.functions.addressToFizzId(wallet).call() == 0
