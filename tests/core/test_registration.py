"""Registration and lease-earnings withdrawal on the in-process chain with the real contracts:
what is sent, what lands on chain and in the settings, and every refusal before any gas is
spent."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import EthereumTesterProvider, Web3
from web3.logs import DISCARD

from devnet.chain.accounts import gateway_account
from devnet.chain.deploy import Deployment, deploy_all
from devnet.chain.faucet import fund
from devnet.chain.tx import send, send_signed
from fizz_app import __version__
from fizz_app.core import registration
from fizz_app.core.bandwidth import save_measurement
from fizz_app.core.chain import AsyncChainClient, ChainClient
from fizz_app.core.chain_errors import ContractRevertError, WrongChainError
from fizz_app.core.config import SettingsStore
from fizz_app.core.errors import UserFacingError
from fizz_app.core.networks import load_network
from fizz_app.core.online import unlock_wallet
from fizz_app.core.registration import RegistrationResult
from fizz_app.core.report import BandwidthInfo, GpuProbe, HardwareReport
from fizz_app.core.spec import REGION_INDEX, parse_spec
from fizz_app.core.wallet import UnlockedWallet, WalletManager

USPON = 10**6


@dataclass
class Devnet:
    w3: Web3
    deployment: Deployment
    home: Path
    data_dir: Path
    """A fresh data folder per test (the bandwidth measurement lives there)."""

    def client(self, **overrides: object) -> ChainClient:
        folder = self.home / "devnet"
        folder.mkdir(parents=True, exist_ok=True)
        self.deployment.write_deployment_file(folder / "deployment.json")
        network = load_network("devnet", self.home)
        if overrides:
            network = network.model_copy(update=overrides)
        return ChainClient(network, self.home, w3=self.w3, sleep=lambda _: None)

    def funded_wallet(self) -> UnlockedWallet:
        account: LocalAccount = Account.create()
        fund(self.w3, self.deployment, account.address, 10**18, 0)
        return UnlockedWallet(account)

    def nonce(self, wallet: UnlockedWallet) -> int:
        return int(self.w3.eth.get_transaction_count(wallet.address))

    def register(
        self, client: ChainClient, wallet: UnlockedWallet, report: HardwareReport, **kw: Any
    ) -> RegistrationResult:
        """Register in us-east with the devnet's gateway, unless ``kw`` says otherwise."""
        options: dict[str, Any] = {
            "region": "us-east",
            "gateway_id": self.deployment.gateway_provider_id,
            "data_dir": self.data_dir,
            **kw,
        }
        return registration.register(client, wallet, report, **options)

    def admin(self, contract: str, function: str, *args: object) -> None:
        call = getattr(self.deployment.contract(self.w3, contract).functions, function)(*args)
        send(self.w3, call, self.deployment.admin)

    def earn(self, fizz_id: int, amount: int) -> None:
        """Credit node ``fizz_id`` with ``amount`` uSPON of lease earnings through the real
        flow (spheron-network.md 6.1): deposit, order, gateway bid, match, lease, settlement."""
        w3, deployment = self.w3, self.deployment
        tenant = w3.eth.accounts[3]
        uspon = deployment.address("USPON")
        fund(w3, deployment, tenant, 0, 500 * USPON)
        token = deployment.contract(w3, "USPON")
        send(w3, token.functions.approve(deployment.address("EscrowUser"), 500 * USPON), tenant)
        escrow_user = deployment.contract(w3, "EscrowUser")
        send(w3, escrow_user.functions.deposit(uspon, 500 * USPON), tenant)
        orders = deployment.contract(w3, "OrderRequest")
        receipt = send(
            w3, orders.functions.createOrder((USPON, 100, uspon, "demo", 1, 0, [])), tenant
        )
        created = orders.events.OrderCreated().process_receipt(receipt, errors=DISCARD)
        order_id = created[0]["args"]["orderId"]
        bid = deployment.contract(w3, "Bid").functions.placeBid(order_id, USPON, fizz_id)
        send_signed(w3, bid, gateway_account())
        gateway = deployment.gateway_address
        self.admin("Bid", "matchOrder", order_id, gateway, fizz_id)
        self.admin("ComputeLease", "createLease", order_id, USPON, gateway, fizz_id)
        self.admin("EscrowProtocol", "transferLockedFizz", tenant, fizz_id, uspon, amount)


@pytest.fixture(scope="module")
def _in_process(tmp_path_factory: pytest.TempPathFactory) -> tuple[Web3, Deployment, Path]:
    w3 = Web3(EthereumTesterProvider())
    return w3, deploy_all(w3, w3.eth.accounts[0]), tmp_path_factory.mktemp("home")


@pytest.fixture
def devnet(_in_process: tuple[Web3, Deployment, Path], tmp_path: Path) -> Iterator[Devnet]:
    """The in-process devnet; each test's changes are rolled back."""
    w3, deployment, home = _in_process
    snapshot = w3.testing.snapshot()
    try:
        yield Devnet(w3, deployment, home, tmp_path / "data")
    finally:
        w3.testing.revert(snapshot)
        for leftover in (home / "chain").glob("*.json"):
            leftover.unlink()


@pytest.fixture
def store(tmp_path: Path) -> SettingsStore:
    return SettingsStore(tmp_path / "settings.json")


def cpu_only(report: HardwareReport) -> HardwareReport:
    return dataclasses.replace(report, gpu=GpuProbe(status="absent", detail="no NVIDIA driver"))


# ---- Registration -------------------------------------------------------------------------------


def test_register_sends_the_spec_and_claims_cpu_and_gpu(
    devnet: Devnet, sample_report: HardwareReport, store: SettingsStore
) -> None:
    wallet = devnet.funded_wallet()
    client = devnet.client()
    result = devnet.register(client, wallet, sample_report, store=store)

    on_chain = client.registration(wallet.address)
    assert on_chain is not None and on_chain.fizz_id == result.fizz_id >= 1
    assert on_chain.provider_id == result.gateway_id == devnet.deployment.gateway_provider_id
    assert on_chain.spec == result.spec
    assert on_chain.reward_wallet == wallet.address
    assert on_chain.payments_accepted == (devnet.deployment.address("USPON"),)
    assert result.spec == f"linux,gpu,32,64,640,rtx4090,1,us-east,NA,x86_64,{__version__}"
    assert parse_spec(result.spec)["region"] == result.spec.split(",")[REGION_INDEX]

    assert list(result.transactions) == ["register", "cpu_attributes", "gpu_attributes"]
    for tx in result.transactions.values():
        mined = devnet.w3.eth.get_transaction_receipt(tx.hash)
        assert mined["status"] == 1 and mined["blockNumber"] == tx.block and tx.status == 1
    assert result.register_tx is result.transactions["register"]
    assert set(result.attribute_txs) == {"cpu_attributes", "gpu_attributes"}
    cpu, gpu = client.resource_ids("CPU"), client.resource_ids("GPU")
    assert client.attributes(wallet.address, "CPU") == [(cpu["gp"], 32)]
    assert client.attributes(wallet.address, "GPU") == [(gpu["rtx4090"], 1)]

    saved = store.load().node
    assert (saved.region, saved.gateway_id) == ("us-east", devnet.deployment.gateway_provider_id)
    assert result.node_settings() == {"region": "us-east", "gateway_id": result.gateway_id}


def test_result_reads_as_the_cli_prints_it(devnet: Devnet, sample_report: HardwareReport) -> None:
    result = devnet.register(devnet.client(), devnet.funded_wallet(), cpu_only(sample_report))
    data = json.loads(json.dumps(result.to_dict()))
    assert set(data) == {"fizz_id", "spec", "gateway", "transactions"}
    assert data["fizz_id"] == result.fizz_id and data["gateway"] == result.gateway_id
    assert list(data["transactions"]) == ["register", "cpu_attributes"]
    assert data["transactions"]["register"] == {
        "hash": result.register_tx.hash,
        "block": result.register_tx.block,
        "explorer": None,  # the devnet has no block explorer
    }
    first, spec, *txs = result.lines()
    assert first == (
        f"Registered as Fizz node {result.fizz_id} on {result.network_title}, linked to "
        f"gateway {result.gateway_id}."
    )
    assert spec == f"Spec: {result.spec}" and result.spec.split(",")[1] == "cpu"
    assert txs == [f"{name}: {tx.hash}" for name, tx in result.transactions.items()]


def test_the_measured_bandwidth_bucket_goes_into_the_spec(
    devnet: Devnet, sample_report: HardwareReport
) -> None:
    measured = BandwidthInfo(
        measured=True,
        download_mbps=412.5,
        upload_mbps=88.0,
        bucket="250mbps",
        measured_at=time.time() - 30 * 24 * 3600,  # stale, but still the best figure there is
    )
    save_measurement(devnet.data_dir, measured)
    result = devnet.register(devnet.client(), devnet.funded_wallet(), sample_report)
    assert result.spec.split(",")[8] == "250mbps"
    assert result.spec.split(",")[REGION_INDEX] == "us-east"


def test_bandwidth_falls_back_to_the_report_then_to_na(
    sample_report: HardwareReport, tmp_path: Path
) -> None:
    # sample_report is measured but the gateway gave no bucket: "NA".
    assert registration.spec_bandwidth(sample_report, tmp_path) == "NA"
    assert registration.spec_bandwidth(sample_report) == "NA"
    with_bucket = dataclasses.replace(
        sample_report, bandwidth=dataclasses.replace(sample_report.bandwidth, bucket="100mbps")
    )
    assert registration.spec_bandwidth(with_bucket, tmp_path) == "100mbps"
    unusable = dataclasses.replace(
        sample_report, bandwidth=dataclasses.replace(sample_report.bandwidth, bucket="1,000 mbps")
    )
    assert registration.spec_bandwidth(unusable) == "NA"


def test_a_reward_address_is_registered(devnet: Devnet, sample_report: HardwareReport) -> None:
    wallet = devnet.funded_wallet()
    rewards_to = Account.create().address
    client = devnet.client()
    devnet.register(client, wallet, cpu_only(sample_report), reward_address=rewards_to)
    on_chain = client.registration(wallet.address)
    assert on_chain is not None and on_chain.reward_wallet == rewards_to


def test_a_second_registration_is_refused_in_plain_words(
    devnet: Devnet, sample_report: HardwareReport
) -> None:
    wallet = devnet.funded_wallet()
    client = devnet.client()
    first = devnet.register(client, wallet, cpu_only(sample_report))
    nonce = devnet.nonce(wallet)
    with pytest.raises(ContractRevertError) as caught:
        devnet.register(client, wallet, cpu_only(sample_report), region="india")
    assert caught.value.error_name == "FizzAlreadyRegistered"
    assert f"already registered as Fizz node {first.fizz_id}" in caught.value.message
    assert "fizz-node status" in caught.value.remedy
    assert devnet.nonce(wallet) == nonce


@pytest.mark.parametrize(
    ("region", "message"),
    [
        (None, "Choose the region this machine is in."),
        ("", "Choose the region this machine is in."),
        ("US East", "'US East' is not a region code."),
        ("x", "'x' is not a region code."),
    ],
)
def test_a_bad_region_is_refused_before_any_transaction(
    devnet: Devnet,
    sample_report: HardwareReport,
    store: SettingsStore,
    region: str | None,
    message: str,
) -> None:
    wallet = devnet.funded_wallet()
    with pytest.raises(UserFacingError) as caught:
        devnet.register(devnet.client(), wallet, sample_report, region=region, store=store)
    assert caught.value.message == message
    assert "us-east" in caught.value.remedy
    assert devnet.nonce(wallet) == 0 and not store.path.exists()


@pytest.mark.parametrize("gateway_id", [None, 0, -3])
def test_no_gateway_is_refused_before_any_transaction(
    devnet: Devnet, sample_report: HardwareReport, gateway_id: int | None
) -> None:
    wallet = devnet.funded_wallet()
    with pytest.raises(UserFacingError) as caught:
        devnet.register(devnet.client(), wallet, sample_report, gateway_id=gateway_id)
    assert "gateway" in caught.value.message and caught.value.remedy
    assert devnet.nonce(wallet) == 0


def test_an_unknown_gateway_is_refused_before_any_transaction(
    devnet: Devnet, sample_report: HardwareReport, store: SettingsStore
) -> None:
    wallet = devnet.funded_wallet()
    with pytest.raises(ContractRevertError) as caught:
        devnet.register(devnet.client(), wallet, sample_report, gateway_id=999, store=store)
    assert caught.value.error_name == "ProviderNotFound"
    assert "gateway does not exist" in caught.value.message
    assert devnet.nonce(wallet) == 0 and not store.path.exists()


def test_the_wrong_chain_is_refused_before_any_transaction(
    devnet: Devnet, sample_report: HardwareReport
) -> None:
    wallet = devnet.funded_wallet()
    client = devnet.client(chain_id=8453, title="Base mainnet")
    with pytest.raises(WrongChainError):
        devnet.register(client, wallet, sample_report)
    assert devnet.nonce(wallet) == 0


def test_check_helpers_take_the_front_ends_wording() -> None:
    assert registration.check_region("india") == "india"
    assert registration.check_gateway(7) == 7
    with pytest.raises(UserFacingError) as caught:
        registration.check_region(None, remedy="Pass --region.")
    assert caught.value.remedy == "Pass --region."
    with pytest.raises(UserFacingError) as gateway:
        registration.check_gateway(None, remedy="Pass --gateway with its id.")
    assert str(gateway.value) == (
        "Choose the gateway this node connects through. Pass --gateway with its id."
    )


# ---- Withdrawal ---------------------------------------------------------------------------------


@pytest.fixture
def earning(devnet: Devnet, sample_report: HardwareReport) -> tuple[UnlockedWallet, int]:
    """A registered node with 40 uSPON of lease earnings to withdraw."""
    wallet = devnet.funded_wallet()
    fizz_id = devnet.register(devnet.client(), wallet, cpu_only(sample_report)).fizz_id
    devnet.earn(fizz_id, 40 * USPON)
    return wallet, fizz_id


def _uspon_balance(devnet: Devnet, address: str) -> int:
    token = devnet.deployment.contract(devnet.w3, "USPON")
    return int(token.functions.balanceOf(address).call())


def test_withdraw_a_part_then_all(devnet: Devnet, earning: tuple[UnlockedWallet, int]) -> None:
    wallet, fizz_id = earning
    client = devnet.client()
    part = registration.withdraw(client, wallet, amount="15.5")
    assert part.fizz_id == fizz_id and part.token == devnet.deployment.address("USPON")
    assert (part.amount.raw, part.amount.symbol, part.amount.decimals) == (15_500_000, "uSPON", 6)
    assert devnet.w3.eth.get_transaction_receipt(part.transaction.hash)["status"] == 1
    assert _uspon_balance(devnet, wallet.address) == 15_500_000
    assert part.to_dict() == {
        "withdrawn": {"raw": "15500000", "value": "15.500000", "symbol": "uSPON"},
        "transaction": part.transaction.to_dict(),
    }
    assert part.lines() == [f"Withdrew 15.5 uSPON in transaction {part.transaction.hash}."]

    rest = registration.withdraw(client, wallet, amount="all", token=part.token.lower())
    assert rest.amount.raw == 24_500_000
    (earnings,) = client.earnings(fizz_id, [part.token])
    assert (earnings.balance.raw, earnings.withdrawn.raw) == (0, 40 * USPON)
    assert _uspon_balance(devnet, wallet.address) == 40 * USPON

    with pytest.raises(UserFacingError) as empty:
        registration.withdraw(client, wallet)
    assert (empty.value.message, empty.value.remedy) == (
        "There is 0 uSPON to withdraw.",
        "Nothing to do yet.",
    )


def test_more_than_the_balance_is_refused_before_any_transaction(
    devnet: Devnet, earning: tuple[UnlockedWallet, int]
) -> None:
    wallet, _ = earning
    nonce = devnet.nonce(wallet)
    with pytest.raises(UserFacingError) as caught:
        registration.withdraw(devnet.client(), wallet, amount="40.000001")
    assert (caught.value.message, caught.value.remedy) == (
        "There is 40 uSPON to withdraw.",
        "Withdraw at most that amount.",
    )
    assert devnet.nonce(wallet) == nonce


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("lots", "'lots' is not an amount."),
        ("-3", "'-3' is not a positive amount with at most 6 decimals."),
        ("0", "'0' is not a positive amount with at most 6 decimals."),
        ("0.0000001", "'0.0000001' is not a positive amount with at most 6 decimals."),
        ("NaN", "'NaN' is not a positive amount with at most 6 decimals."),
        ("Infinity", "'Infinity' is not a positive amount with at most 6 decimals."),
    ],
)
def test_bad_amounts_are_refused_before_any_transaction(
    devnet: Devnet, earning: tuple[UnlockedWallet, int], amount: str, message: str
) -> None:
    wallet, _ = earning
    nonce = devnet.nonce(wallet)
    with pytest.raises(UserFacingError) as caught:
        registration.withdraw(devnet.client(), wallet, amount=amount)
    assert caught.value.message == message
    assert caught.value.remedy == "Pass --amount as a number like 12.5, or 'all'."
    assert devnet.nonce(wallet) == nonce


def test_withdraw_needs_a_registration(devnet: Devnet) -> None:
    wallet = devnet.funded_wallet()
    with pytest.raises(UserFacingError) as unregistered:
        registration.withdraw(devnet.client(), wallet)
    assert unregistered.value.message == "This wallet is not registered as a Fizz node."
    assert unregistered.value.remedy == "Register it first."


def test_a_malformed_token_is_named(devnet: Devnet, earning: tuple[UnlockedWallet, int]) -> None:
    wallet, _ = earning
    with pytest.raises(UserFacingError, match="'uspon' is not a token address"):
        registration.withdraw(devnet.client(), wallet, token="uspon")


def test_parse_amount() -> None:
    assert registration.parse_amount("12.5", 6) == 12_500_000
    assert registration.parse_amount("1e-6", 6) == 1
    assert registration.parse_amount("3", 18) == 3 * 10**18
    # More digits than Decimal's default 28: exact, not rounded to another amount.
    big = "12345678901234567890.123456789012345678"
    assert registration.parse_amount(big, 18) == int(big.replace(".", ""))


# ---- For the engine -----------------------------------------------------------------------------


async def test_async_wrappers_register_and_withdraw(
    devnet: Devnet, sample_report: HardwareReport, store: SettingsStore
) -> None:
    wallet = devnet.funded_wallet()
    chain = AsyncChainClient(devnet.client())
    registered = await registration.register_async(
        chain,
        wallet,
        cpu_only(sample_report),
        region="india",
        gateway_id=devnet.deployment.gateway_provider_id,
        data_dir=devnet.data_dir,
    )
    devnet.earn(registered.fizz_id, 5 * USPON)
    withdrawn = await registration.withdraw_async(chain, wallet, amount="2")
    assert registered.spec.split(",")[REGION_INDEX] == "india"
    assert not store.path.exists()  # no store given: the engine saves through update_settings
    assert withdrawn.amount.raw == 2 * USPON and withdrawn.fizz_id == registered.fizz_id


async def test_unlocking_the_wallet_explains_what_is_missing(tmp_path: Path) -> None:
    wallets = WalletManager(tmp_path, None, scrypt_n=16)
    with pytest.raises(UserFacingError, match="no wallet yet"):
        await unlock_wallet(wallets, None)
    address = wallets.import_private_key(Account.create().key.hex(), "a-long-passphrase")
    with pytest.raises(UserFacingError, match="no passphrase was given") as caught:
        await unlock_wallet(wallets, None)
    assert "FIZZ_WALLET_PASSPHRASE" in caught.value.remedy
    signer = await unlock_wallet(wallets, "a-long-passphrase")
    assert signer.address == address
    signer.close()


def test_wallet_reward_address(tmp_path: Path) -> None:
    wallets = WalletManager(tmp_path, None, scrypt_n=16)
    address = wallets.import_private_key(Account.create().key.hex(), "a-long-passphrase")
    assert registration.wallet_reward_address(wallets) == address  # rewards go to the node
    reward = Account.create().address
    wallets.set_reward_address(reward)
    assert registration.wallet_reward_address(wallets) == reward
    assert registration.wallet_reward_address(object()) is None
