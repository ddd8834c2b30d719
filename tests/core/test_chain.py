"""The chain client against real chains: the in-process chain for the whole surface, and
anvil for the parts where the two report things differently (reverts, connection errors)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import EthereumTesterProvider, Web3
from web3.logs import DISCARD

from devnet.chain.accounts import gateway_account
from devnet.chain.anvil import AnvilProcess
from devnet.chain.deploy import Deployment, deploy_all
from devnet.chain.faucet import fund
from devnet.chain.tx import send, send_signed
from fizz_app.core.chain import AsyncChainClient, ChainClient
from fizz_app.core.chain_errors import (
    ContractRevertError,
    InsufficientFundsError,
    RpcUnreachableError,
    WrongChainError,
)
from fizz_app.core.networks import NetworkProfile, load_network
from fizz_app.core.transactions import PendingTx, PendingTxStore
from fizz_app.core.wallet import UnlockedWallet

SPEC = "linux,cpu,2,16,100,none,0,us-east,NA,x86_64,0.1.0"
SPON = 10**18


@dataclass
class Devnet:
    w3: Web3
    deployment: Deployment
    home: Path

    def network(self, **overrides: object) -> NetworkProfile:
        folder = self.home / "devnet"
        folder.mkdir(parents=True, exist_ok=True)
        self.deployment.write_deployment_file(folder / "deployment.json")
        network = load_network("devnet", self.home)
        return network.model_copy(update=overrides) if overrides else network

    def client(self, **overrides: object) -> ChainClient:
        return ChainClient(self.network(**overrides), self.home, w3=self.w3, sleep=lambda _: None)

    def funded_wallet(self, eth: int = 10**18, uspon: int = 10**9) -> UnlockedWallet:
        account: LocalAccount = Account.create()
        fund(self.w3, self.deployment, account.address, eth, uspon)
        return UnlockedWallet(account)

    def admin(self, contract: str, function: str, *args: object) -> None:
        call = getattr(self.deployment.contract(self.w3, contract).functions, function)(*args)
        send(self.w3, call, self.deployment.admin)


@pytest.fixture(scope="module")
def _in_process(tmp_path_factory: pytest.TempPathFactory) -> tuple[Web3, Deployment, Path]:
    w3 = Web3(EthereumTesterProvider())
    return w3, deploy_all(w3, w3.eth.accounts[0]), tmp_path_factory.mktemp("home")


@pytest.fixture
def devnet(_in_process: tuple[Web3, Deployment, Path]) -> Iterator[Devnet]:
    """The in-process devnet; each test's changes are rolled back."""
    w3, deployment, home = _in_process
    snapshot = w3.testing.snapshot()
    try:
        yield Devnet(w3, deployment, home)
    finally:
        w3.testing.revert(snapshot)
        for leftover in (home / "chain").glob("*.json"):
            leftover.unlink()


@pytest.fixture(scope="module")
def anvil_devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    with AnvilProcess() as anvil:
        w3 = anvil.web3()
        deployment = deploy_all(w3, w3.eth.accounts[0])
        deployment = Deployment(**{**deployment.__dict__, "rpc_url": anvil.rpc_url})
        yield Devnet(w3, deployment, tmp_path_factory.mktemp("anvil-home"))


def _register(devnet: Devnet, wallet: UnlockedWallet, client: ChainClient | None = None) -> int:
    client = client or devnet.client()
    fizz_id, sent = client.register(
        wallet,
        provider_id=devnet.deployment.gateway_provider_id,
        spec=SPEC,
        payment_tokens=[devnet.deployment.address("USPON")],
        reward_wallet=wallet.address,
    )
    assert sent.status == 1
    return fizz_id


# ---- Reads and registration ---------------------------------------------------------------------


def test_unregistered_wallet_status(devnet: Devnet) -> None:
    wallet = devnet.funded_wallet(eth=3 * 10**17, uspon=25 * 10**6)
    status = devnet.client().status(wallet.address)
    assert status.registration is None and status.rewards is None
    assert status.balances.gas.raw == 3 * 10**17
    uspon, spon = status.balances.tokens
    assert (uspon.symbol, uspon.decimals, str(uspon)) == ("uSPON", 6, "25 uSPON")
    assert (spon.symbol, spon.decimals, spon.raw) == ("SPON", 18, 0)
    data = json.loads(json.dumps(status.to_dict()))
    assert data["registered"] is False


def test_register_then_read_back(devnet: Devnet) -> None:
    wallet = devnet.funded_wallet()
    client = devnet.client()
    fizz_id = _register(devnet, wallet, client)
    registration = client.registration(wallet.address)
    assert registration is not None
    assert registration.fizz_id == fizz_id >= 1
    assert registration.spec == SPEC and registration.spec.split(",")[7] == "us-east"
    assert registration.provider_id == devnet.deployment.gateway_provider_id
    assert registration.status_name == "registered"
    assert registration.payments_accepted == (devnet.deployment.address("USPON"),)
    assert registration.wallet_address == wallet.address
    assert client.is_linked(fizz_id, devnet.deployment.gateway_provider_id)
    assert not client.is_linked(fizz_id, devnet.deployment.gateway_provider_id + 1)
    assert not client.is_linked(fizz_id + 1, devnet.deployment.gateway_provider_id)


def test_double_registration_is_refused_without_a_transaction(devnet: Devnet) -> None:
    wallet = devnet.funded_wallet()
    _register(devnet, wallet)
    nonce = devnet.w3.eth.get_transaction_count(wallet.address)
    with pytest.raises(ContractRevertError) as caught:
        _register(devnet, wallet)
    assert caught.value.error_name == "FizzAlreadyRegistered"
    assert "already registered as Fizz node" in caught.value.message
    assert devnet.w3.eth.get_transaction_count(wallet.address) == nonce


def test_attributes_and_resource_ids(devnet: Devnet) -> None:
    wallet = devnet.funded_wallet()
    client = devnet.client()
    _register(devnet, wallet, client)
    cpu = client.resource_ids("CPU")
    assert cpu["gp"] == 1 and "m2-pro" in cpu
    assert "rtx4090" in client.resource_ids("GPU")
    client.submit_attributes(wallet, "CPU", [cpu["gp"]], [2])
    assert client.attributes(wallet.address, "CPU") == [(cpu["gp"], 2)]
    # 2 threads x multiplier 0.2 x base 25 SPON per era.
    assert client.rewards(wallet.address).per_era.raw == 10 * SPON


def test_spec_and_gateway_and_payment_updates(devnet: Devnet) -> None:
    wallet = devnet.funded_wallet()
    client = devnet.client()
    _register(devnet, wallet, client)
    client.update_spec(wallet, SPEC.replace("us-east", "india"))
    registration = client.registration(wallet.address)
    assert registration is not None and registration.spec.split(",")[7] == "india"
    with pytest.raises(ContractRevertError) as same:
        client.change_gateway(wallet, devnet.deployment.gateway_provider_id)
    assert same.value.error_name == "AlreadySet"
    with pytest.raises(ContractRevertError) as missing:
        client.change_gateway(wallet, 999)
    assert missing.value.error_name == "ProviderNotFound"
    assert "gateway does not exist" in missing.value.message
    with pytest.raises(ContractRevertError) as accepted:
        client.add_payment_token(wallet, devnet.deployment.address("USPON"))
    assert accepted.value.error_name == "TokenAlreadyAccepted"
    client.remove_payment_token(wallet, devnet.deployment.address("USPON"))
    registration = client.registration(wallet.address)
    assert registration is not None and registration.payments_accepted == ()


def test_custom_error_whose_payload_looks_like_text_keeps_its_name(devnet: Devnet) -> None:
    # The in-process chain would report InvalidCategory("RAM") as the message "RAM".
    wallet = devnet.funded_wallet()
    client = devnet.client()
    _register(devnet, wallet, client)
    with pytest.raises(ContractRevertError) as caught:
        client.submit_attributes(wallet, "RAM", [1], [4])
    assert caught.value.error_name == "InvalidCategory"
    assert caught.value.revert.args == ("RAM",)


def test_gateway_lookup(devnet: Devnet) -> None:
    client = devnet.client()
    gateway = client.gateway(devnet.deployment.gateway_provider_id)
    assert gateway.wallet_address == devnet.deployment.gateway_address
    assert gateway.host_uri == "127.0.0.1" and gateway.certificate == ""
    with pytest.raises(ContractRevertError) as caught:
        client.gateway(999)
    assert caught.value.error_name == "ProviderNotFound"


def test_unregistered_wallet_cannot_update(devnet: Devnet) -> None:
    wallet = devnet.funded_wallet()
    with pytest.raises(ContractRevertError) as caught:
        devnet.client().update_spec(wallet, SPEC)
    assert caught.value.error_name == "FizzNodeNotFound"
    assert "not registered" in caught.value.message


# ---- Rewards and earnings -----------------------------------------------------------------------


def test_rewards_accrue_claim_and_balance_rises(devnet: Devnet) -> None:
    wallet = devnet.funded_wallet()
    client = devnet.client()
    _register(devnet, wallet, client)
    devnet.admin("FizzRewardsManager", "addFizzPendingRewards", [wallet.address], [7 * SPON])
    rewards = client.rewards(wallet.address)
    assert rewards.pending.raw == 7 * SPON and str(rewards.pending) == "7 SPON"
    assert rewards.accumulated.raw == 7 * SPON
    client.claim_rewards(wallet)
    after = client.status(wallet.address)
    assert after.rewards is not None and after.rewards.pending.raw == 0
    spon = after.balances.tokens[1]
    assert spon.symbol == "SPON" and spon.raw == 7 * SPON


def test_era_advances_with_time(devnet: Devnet) -> None:
    wallet = devnet.funded_wallet()
    client = devnet.client()
    _register(devnet, wallet, client)
    era = client.rewards(wallet.address).current_era
    latest = devnet.w3.eth.get_block("latest")["timestamp"]
    devnet.w3.testing.timeTravel(latest + 2 * devnet.deployment.era_seconds)
    devnet.w3.testing.mine()
    assert client.rewards(wallet.address).current_era == era + 2


def test_lease_earnings_credit_and_withdraw(devnet: Devnet) -> None:
    node = devnet.funded_wallet()
    client = devnet.client()
    fizz_id = _register(devnet, node, client)
    tenant = devnet.w3.eth.accounts[3]
    uspon_address = devnet.deployment.address("USPON")
    fund(devnet.w3, devnet.deployment, tenant, 0, 500 * 10**6)
    uspon = devnet.deployment.contract(devnet.w3, "USPON")
    escrow_user = devnet.deployment.address("EscrowUser")
    send(devnet.w3, uspon.functions.approve(escrow_user, 500 * 10**6), tenant)
    send(
        devnet.w3,
        devnet.deployment.contract(devnet.w3, "EscrowUser").functions.deposit(
            uspon_address, 500 * 10**6
        ),
        tenant,
    )
    # The real flow (spheron-network.md 6.1): order, gateway bid, match, lease, settlement.
    order = (10**6, 100, uspon_address, "demo", 1, 0, [])
    orders = devnet.deployment.contract(devnet.w3, "OrderRequest")
    receipt = send(devnet.w3, orders.functions.createOrder(order), tenant)
    created = orders.events.OrderCreated().process_receipt(receipt, errors=DISCARD)
    order_id = created[0]["args"]["orderId"]
    gateway = devnet.deployment.gateway_address
    bid = devnet.deployment.contract(devnet.w3, "Bid")
    send_signed(devnet.w3, bid.functions.placeBid(order_id, 10**6, fizz_id), gateway_account())
    devnet.admin("Bid", "matchOrder", order_id, gateway, fizz_id)
    devnet.admin("ComputeLease", "createLease", order_id, 10**6, gateway, fizz_id)
    devnet.admin("EscrowProtocol", "transferLockedFizz", tenant, fizz_id, uspon_address, 40 * 10**6)
    (earned,) = client.earnings(fizz_id, [uspon_address])
    assert (earned.earned.raw, earned.balance.raw, earned.withdrawn.raw) == (40 * 10**6,) * 2 + (0,)
    before = client.balances(node.address).tokens[0].raw
    client.withdraw_earnings(node, fizz_id, uspon_address, 15 * 10**6)
    (after,) = client.earnings(fizz_id, [uspon_address])
    assert after.balance.raw == 25 * 10**6 and after.withdrawn.raw == 15 * 10**6
    assert client.balances(node.address).tokens[0].raw == before + 15 * 10**6
    with pytest.raises(ContractRevertError):
        client.withdraw_earnings(node, fizz_id, uspon_address, 26 * 10**6)


# ---- Failures in plain words --------------------------------------------------------------------


def test_wrong_chain_is_refused_before_any_transaction(devnet: Devnet) -> None:
    wallet = devnet.funded_wallet()
    client = devnet.client(chain_id=8453, title="Base mainnet")
    with pytest.raises(WrongChainError, match="serves chain .* but Base mainnet is chain 8453"):
        _register(devnet, wallet, client)
    assert devnet.w3.eth.get_transaction_count(wallet.address) == 0


def test_no_gas_money_names_the_faucet(devnet: Devnet) -> None:
    wallet = UnlockedWallet(Account.create())
    with pytest.raises(InsufficientFundsError) as caught:
        _register(devnet, wallet)
    assert "too little ETH" in caught.value.message
    assert "fizz-node devnet faucet" in caught.value.remedy
    assert not PendingTxStore(devnet.home / "chain" / "devnet-pending.json").load()


def test_unreachable_rpc_is_retried_then_explained(tmp_path: Path) -> None:
    network = load_network("base-sepolia", tmp_path, rpc_url="http://127.0.0.1:9")
    delays: list[float] = []
    client = ChainClient(network, tmp_path, sleep=delays.append)
    with pytest.raises(RpcUnreachableError) as caught:
        client.verify_chain()
    assert delays == [0.5, 1.0, 2.0]
    assert "Cannot reach the Base Sepolia testnet network at http://127.0.0.1:9" in str(
        caught.value
    )


# ---- Pending transactions across restarts -------------------------------------------------------


def test_transaction_sent_before_a_crash_is_settled_after_restart(devnet: Devnet) -> None:
    wallet = devnet.funded_wallet()
    client = devnet.client()
    registry = devnet.deployment.contract(devnet.w3, "FizzRegistry")
    call = registry.functions.addFizzNode(
        (devnet.deployment.gateway_provider_id, SPEC, wallet.address, [], wallet.address)
    )
    tx = call.build_transaction(
        {
            "from": wallet.address,
            "nonce": 0,
            "chainId": devnet.w3.eth.chain_id,
            "gas": 600_000,
            "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 10**9,
        }
    )
    raw = wallet.sign_transaction(tx)
    tx_hash = Web3.keccak(raw).to_0x_hex()
    store = PendingTxStore(devnet.home / "chain" / "devnet-pending.json")
    # The crash came after remembering the transaction but before the node received it.
    store.add(PendingTx(tx_hash, 0, wallet.address, "register", 0.0, "0x" + raw.hex()))
    restarted = devnet.client()
    assert restarted.recheck_pending() == []  # broadcast again, not mined yet on a quiet chain
    devnet.w3.testing.mine()
    assert restarted.recheck_pending() == [f"register: transaction {tx_hash} succeeded"]
    assert client.registration(wallet.address) is not None
    assert store.load() == []
    # The next transaction takes the next nonce.
    client.update_spec(wallet, SPEC)
    assert devnet.w3.eth.get_transaction_count(wallet.address) == 2


# ---- Anvil: the other revert style -----------------------------------------------------------


def test_anvil_reverts_decode_the_same(anvil_devnet: Devnet) -> None:
    wallet = anvil_devnet.funded_wallet()
    client = anvil_devnet.client()
    fizz_id = _register(anvil_devnet, wallet, client)
    assert fizz_id >= 1
    with pytest.raises(ContractRevertError) as same:
        client.change_gateway(wallet, anvil_devnet.deployment.gateway_provider_id)
    assert same.value.error_name == "AlreadySet"
    with pytest.raises(ContractRevertError) as missing:
        client.change_gateway(wallet, 999)
    assert missing.value.error_name == "ProviderNotFound"
    poor = UnlockedWallet(Account.create())
    with pytest.raises(InsufficientFundsError):
        _register(anvil_devnet, poor, client)


# ---- From the event loop ----------------------------------------------------------------------


async def test_async_client_keeps_the_event_loop_running(devnet: Devnet, tmp_path: Path) -> None:
    import asyncio
    import time

    wallet = devnet.funded_wallet()
    quick = AsyncChainClient(devnet.client())
    fizz_id, _sent = await quick.register(
        wallet,
        provider_id=devnet.deployment.gateway_provider_id,
        spec=SPEC,
        payment_tokens=[],
        reward_wallet=wallet.address,
    )
    status = await quick.status(wallet.address)
    assert status.registration is not None and status.registration.fizz_id == fizz_id

    # An endpoint that does not answer makes the client retry with pauses: the loop must keep
    # turning meanwhile.
    network = load_network("base-sepolia", tmp_path, rpc_url="http://127.0.0.1:9")
    slow = AsyncChainClient(ChainClient(network, tmp_path, sleep=lambda s: time.sleep(s / 10)))
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    ticker = asyncio.create_task(tick())
    with pytest.raises(RpcUnreachableError):
        await slow.verify_chain()
    ticker.cancel()
    assert ticks > 10
