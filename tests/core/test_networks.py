"""Network profiles: the shipped ones, the devnet's deployment file, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fizz_app.core.networks import NetworkError, available_networks, load_network

# The real network's published addresses (spheron-network.md 2.2): a typo here would send a
# user's transactions to the wrong contract.
MAINNET_FIZZ_REGISTRY = "0x1071F508b68E9cf8f338170295C952BDF509AE4D"
TESTNET_FIZZ_REGISTRY = "0x9c0CFbb1EAF3023B4aB23337c8AEc8305763F42F"


def test_shipped_networks() -> None:
    assert available_networks() == ["base", "base-sepolia", "devnet"]


def test_base_mainnet(tmp_path: Path) -> None:
    base = load_network("base", tmp_path)
    assert base.chain_id == 8453
    assert not base.testnet and base.faucet is None
    assert base.address("FizzRegistry") == MAINNET_FIZZ_REGISTRY
    assert base.address("USPON") == "0xBf0fA0461331d815A103e59929E5a19A48C30f5e"
    assert base.rpc_url == "https://mainnet.base.org"
    assert base.explorer_tx_url("0xabc") == "https://basescan.org/tx/0xabc"


def test_base_sepolia(tmp_path: Path) -> None:
    sepolia = load_network("base-sepolia", tmp_path)
    assert sepolia.chain_id == 84532
    assert sepolia.testnet and sepolia.faucet
    assert sepolia.address("FizzRegistry") == TESTNET_FIZZ_REGISTRY


def test_missing_contract_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NetworkError, match="has no ResourceRegistryGPU contract"):
        load_network("base-sepolia", tmp_path).address("ResourceRegistryGPU")


def test_rpc_override(tmp_path: Path) -> None:
    network = load_network("base", tmp_path, rpc_url="http://127.0.0.1:9999")
    assert network.rpc_urls == ("http://127.0.0.1:9999",)


def test_unknown_network(tmp_path: Path) -> None:
    with pytest.raises(NetworkError, match="Choose one of: base, base-sepolia, devnet"):
        load_network("mainnet", tmp_path)
    with pytest.raises(NetworkError):
        load_network("../networks/base", tmp_path)


def test_devnet_needs_its_deployment_file(tmp_path: Path) -> None:
    with pytest.raises(NetworkError) as caught:
        load_network("devnet", tmp_path)
    assert "not deployed" in caught.value.message
    assert caught.value.remedy == "Start it with: fizz-node devnet chain"


def test_devnet_reads_addresses_from_the_deployment_file(tmp_path: Path) -> None:
    deployment = tmp_path / "devnet" / "deployment.json"
    deployment.parent.mkdir()
    address = "0x" + "ab" * 20
    deployment.write_text(
        json.dumps(
            {
                "format": 1,
                "chainId": 31337,
                "rpcUrl": "http://127.0.0.1:8546",
                "addresses": {"FizzRegistry": address},
                "gateway": {"address": address, "providerId": 1},
            }
        )
    )
    devnet = load_network("devnet", tmp_path)
    assert devnet.chain_id == 31337
    assert devnet.rpc_url == "http://127.0.0.1:8546"
    assert devnet.address("FizzRegistry") == address
    assert devnet.default_gateway_id == 1


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("{not json", "cannot be read"),
        ('{"chainId": 1}', "incomplete"),
        ('{"chainId": 1, "addresses": {"FizzRegistry": "0x12"}}', "malformed address"),
    ],
)
def test_bad_deployment_file(tmp_path: Path, content: str, words: str) -> None:
    deployment = tmp_path / "devnet" / "deployment.json"
    deployment.parent.mkdir()
    deployment.write_text(content)
    with pytest.raises(NetworkError, match=words):
        load_network("devnet", tmp_path)
