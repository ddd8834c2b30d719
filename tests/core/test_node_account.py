"""The engine's wallet, balance, gateway and earnings intents, on the in-process chain (the
gateway on its own thread, as the desktop app will see it)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from fizz_app.core.node import Node
from fizz_app.core.wallet import WalletError, WalletManager, check_confirmation
from tests.devnet.gateway_env import Chain
from tests.local_network import BackgroundGateway, registered_node_parts, thread_safe_chain


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    return thread_safe_chain(tmp_path_factory.mktemp("chain"))


@pytest.fixture
def gateway(chain: Chain, tmp_path: Path) -> Iterator[BackgroundGateway]:
    with BackgroundGateway(chain, tmp_path) as running:
        yield running


def fresh_node(home: Path, chain: Chain) -> Node:
    """A node with no wallet yet (the keystore kind: this machine has no OS keyring here)."""
    _, kwargs = registered_node_parts(chain, home / "unused", register=False)
    kwargs.update(data_dir=home, wallets=WalletManager(home, None, scrypt_n=16))
    return Node(**kwargs)


async def test_creating_a_wallet_shows_its_phrase_once_and_refuses_a_second(
    tmp_path: Path, chain: Chain
) -> None:
    async with fresh_node(tmp_path, chain) as node:
        assert (await node.wallet_info()).exists is False
        assert node.wallet_needs_passphrase()
        with pytest.raises(WalletError, match="passphrase"):
            await node.create_wallet(None)
        created = await node.create_wallet("a-long-passphrase")
        words = created.mnemonic.split()
        assert len(words) == 12
        assert check_confirmation(created.mnemonic, {1: words[0], 7: words[6]})
        info = await node.wallet_info()
        assert (info.exists, info.address, info.storage) == (True, created.address, "keystore")
        with pytest.raises(WalletError):
            await node.create_wallet("a-long-passphrase")


@pytest.mark.parametrize("kind", ["key", "phrase"])
async def test_importing_a_key_or_a_phrase(tmp_path: Path, chain: Chain, kind: str) -> None:
    Account.enable_unaudited_hdwallet_features()
    account, phrase = Account.create_with_mnemonic()
    secret = account.key.hex() if kind == "key" else f"  {phrase}\n"
    async with fresh_node(tmp_path, chain) as node:
        address = await node.import_wallet(secret, "a-long-passphrase")
        assert address == account.address
        assert (await node.wallet_info()).address == account.address


async def test_balances_gateways_and_an_empty_ledger(
    tmp_path: Path, chain: Chain, gateway: BackgroundGateway
) -> None:
    address, kwargs = registered_node_parts(chain, tmp_path)
    async with Node(**kwargs) as node:
        balances = await node.balances()
        assert balances.gas.raw > 0
        choices = await node.gateways()
        ours = next(choice for choice in choices if choice.provider_id == chain.gateway_id)
        assert gateway.server is not None and ours.host_uri == gateway.server.url
        assert ours.latency_ms is not None and ours.latency_ms >= 0
        assert await node.earnings_totals("week") == []
        target = tmp_path / "earnings.csv"
        assert await node.export_earnings_csv(target) == 0
        rows: list[Any] = list(csv.reader(target.open()))
        assert rows[0][:2] == ["date", "kind"]
        assert address  # the registered wallet


async def test_a_node_with_no_wallet_says_so_for_balances(tmp_path: Path, chain: Chain) -> None:
    async with fresh_node(tmp_path, chain) as node:
        with pytest.raises(Exception, match="no wallet yet"):
            await node.balances()
