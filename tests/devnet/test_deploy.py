"""deploy_all on the in-process chain: every contract deployed, wired, seeded and recorded."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from web3 import EthereumTesterProvider, Web3

from devnet.chain.accounts import devnet_account, gateway_account
from devnet.chain.artifacts import load_resource_seed, to_fixed18
from devnet.chain.deploy import (
    CONTRACTS,
    GATEWAY_HOST_URI,
    GATEWAY_SPEC,
    Deployment,
    DeploymentError,
    deploy_all,
    role_id,
)
from devnet.chain.faucet import USPON_UNIT, fund

ERA_SECONDS = 60


@pytest.fixture(scope="module")
def deployed() -> tuple[Web3, Deployment]:
    w3 = Web3(EthereumTesterProvider())
    return w3, deploy_all(
        w3, w3.eth.accounts[0], era_seconds=ERA_SECONDS, settler=w3.eth.accounts[9]
    )


def test_every_contract_is_deployed(deployed: tuple[Web3, Deployment]) -> None:
    w3, dep = deployed
    assert set(dep.addresses) == set(CONTRACTS)
    assert len(set(dep.addresses.values())) == len(CONTRACTS)
    for name, address in dep.addresses.items():
        assert Web3.is_checksum_address(address)
        assert len(w3.eth.get_code(address)) > 100, name
    assert dep.chain_id == w3.eth.chain_id
    assert dep.rpc_url is None  # in-process: no URL
    assert 0 < dep.deployed_block <= w3.eth.block_number
    assert dep.era_seconds == ERA_SECONDS


def test_roles_are_wired(deployed: tuple[Web3, Deployment]) -> None:
    w3, dep = deployed
    acm = dep.contract(w3, "AccessControlManager").functions

    def has(role: str, who: str) -> bool:
        return bool(acm.hasRole(role_id(role), who).call())

    assert acm.ADMIN_ROLE().call() == role_id("ADMIN_ROLE")
    assert acm.PROTOCOL_ROLE().call() == role_id("PROTOCOL_ROLE")
    for role in ("DEFAULT_ADMIN_ROLE", "ADMIN_ROLE", "SLASHER_ROLE", "SETTLER_ROLE"):
        assert has(role, dep.admin)
    assert dep.settler == w3.eth.accounts[9] != dep.admin
    assert has("SETTLER_ROLE", dep.settler) and has("SLASHER_ROLE", dep.settler)
    assert not has("ADMIN_ROLE", dep.settler)
    assert has("MINTER_ROLE", dep.address("FizzRewardsManager"))
    for name in ("OrderRequest", "Bid", "ComputeLease", "EscrowProtocol"):
        assert has("PROTOCOL_ROLE", dep.address(name)), name
    assert not has("PROTOCOL_ROLE", dep.address("FizzRegistry"))


def test_tokens_registries_and_switches(deployed: tuple[Web3, Deployment]) -> None:
    w3, dep = deployed
    uspon = dep.contract(w3, "USPON").functions
    assert (uspon.name().call(), uspon.symbol().call(), uspon.decimals().call()) == (
        "uSPON",
        "uSPON",
        6,
    )
    tokens = dep.contract(w3, "TokenRegistry").functions
    assert tokens.getAllTokens().call() == [dep.address("USPON")]
    assert dep.contract(w3, "FizzRegistry").functions.autoRegister().call() is True
    assert dep.contract(w3, "FizzAttributeRegistry").functions.autoApproval().call() is True
    rewards = dep.contract(w3, "FizzRewardsManager").functions
    assert rewards.eraSeconds().call() == ERA_SECONDS
    assert rewards.getCurrentEra().call() == 0
    assert [rewards.categories(i).call()[2] for i in (0, 1)] == [25 * 10**18, 500 * 10**18]
    seed = load_resource_seed()
    for category in ("CPU", "GPU"):
        registry = dep.contract(w3, f"ResourceRegistry{category}").functions
        assert len(registry.getAllResourceIds().call()) == len(seed[category].resources)
    protocol = dep.contract(w3, "EscrowProtocol").functions
    assert protocol.fizzNodePercentage().call() == 100
    assert protocol.protocolFeePercentage().call() == 0


def test_the_reference_gateway_is_registered(deployed: tuple[Web3, Deployment]) -> None:
    w3, dep = deployed
    gateway = gateway_account()
    assert gateway.address == devnet_account("gateway-1").address == dep.gateway_address
    assert dep.gateway_provider_id == 1
    providers = dep.contract(w3, "ProviderRegistry").functions
    spec, host, cert, wallet, payments, status, joined = providers.getProvider(1).call()
    assert (spec, host, cert, wallet) == (GATEWAY_SPEC, GATEWAY_HOST_URI, "", gateway.address)
    assert payments == [dep.address("USPON")]
    assert status == 2  # Active
    assert joined > 0
    assert providers.addressToProviderId(gateway.address).call() == 1
    assert providers.isProviderRegistered(1).call() is True
    assert providers.isProviderRegistered(2).call() is False
    assert w3.eth.get_balance(gateway.address) > 10**18  # gas for its bids


def test_the_settler_account_can_settle(deployed: tuple[Web3, Deployment]) -> None:
    w3, dep = deployed
    rewards = dep.contract(w3, "FizzRewardsManager")
    tx = rewards.functions.addFizzPendingRewards([w3.eth.accounts[5]], [3]).transact(
        {"from": dep.settler}
    )
    assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    assert rewards.functions.pendingRewards(w3.eth.accounts[5]).call() == 3


def test_faucet_funds_ether_and_uspon(deployed: tuple[Web3, Deployment]) -> None:
    w3, dep = deployed
    target = devnet_account("faucet-test").address
    fund(w3, dep, target, 2 * 10**18, 250 * USPON_UNIT)
    assert w3.eth.get_balance(target) == 2 * 10**18
    assert dep.contract(w3, "USPON").functions.balanceOf(target).call() == 250 * USPON_UNIT
    fund(w3, dep, target, 0, 0)  # nothing to do
    with pytest.raises(ValueError):
        fund(w3, dep, target, -1, 0)


def test_deployment_file_round_trip(deployed: tuple[Web3, Deployment], tmp_path: Path) -> None:
    _, dep = deployed
    assert Deployment.from_json(dep.to_json()) == dep
    path = tmp_path / "nested" / "deployment.json"
    dep.write_deployment_file(path)
    assert path.read_text() == dep.to_json()
    assert Deployment.read(path) == dep
    assert not [p for p in path.parent.iterdir() if p.name != "deployment.json"]
    data = json.loads(dep.to_json())
    assert data["format"] == 1 and data["gateway"]["providerId"] == 1
    hash(dep)  # frozen and hashable despite the address mapping


def test_bad_deployment_files_are_refused(deployed: tuple[Web3, Deployment]) -> None:
    _, dep = deployed
    data = json.loads(dep.to_json())
    with pytest.raises(DeploymentError, match="format"):
        Deployment.from_json(json.dumps({**data, "format": 99}))
    del data["addresses"]["Bid"]
    with pytest.raises(DeploymentError, match="Bid"):
        Deployment.from_json(json.dumps(data))
    with pytest.raises(DeploymentError):
        Deployment.from_json("not json")
    with pytest.raises(KeyError, match="Nope"):
        dep.address("Nope")


def test_seed_file_is_well_formed() -> None:
    seed = load_resource_seed()
    assert [r.name for r in seed["CPU"].resources][:2] == ["gp", "m1"]
    assert seed["CPU"].base_reward == 25 * 10**18 and seed["GPU"].base_reward == 500 * 10**18
    for category in seed.values():
        ids = [r.id for r in category.resources]
        assert ids == list(range(1, len(ids) + 1))
        assert len({r.name for r in category.resources}) == len(ids)
        for row in category.resources:
            assert 0 < row.multiplier <= 10**18
            assert all(re.fullmatch(r"[0-9a-f]{4}", d) for d in row.pci_device_ids)
    gpu = {r.name: r for r in seed["GPU"].resources}
    assert gpu["rtx4090"].multiplier == 10**18 and gpu["rtx4090"].tier == "Medium 1"
    assert gpu["rtx4070"].multiplier == to_fixed18("0.25")
    assert gpu["rtx4090"].pci_device_ids == ("2684",)
    assert gpu["rtx5090"].pci_device_ids == ()  # newer than the pci.ids snapshot: left empty
    assert len(gpu) == 30


@pytest.mark.parametrize(
    ("text", "value"),
    [("0.25", 25 * 10**16), ("1", 10**18), ("0.1", 10**17), ("2.5", 25 * 10**17)],
)
def test_fixed18(text: str, value: int) -> None:
    assert to_fixed18(text) == value


@pytest.mark.parametrize("text", ["", "-1", "1e3", "0.1234567890123456789", "x"])
def test_fixed18_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        to_fixed18(text)


def test_era_seconds_must_be_positive() -> None:
    w3 = Web3(EthereumTesterProvider())
    with pytest.raises(ValueError):
        deploy_all(w3, w3.eth.accounts[0], era_seconds=0)
