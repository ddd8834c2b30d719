"""The devnet on a real anvil node over HTTP JSON-RPC: start, deploy, register, claim, stop."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from eth_utils import keccak
from web3 import Web3
from web3.exceptions import ContractCustomError

from devnet.chain.anvil import AnvilNotFoundError, AnvilProcess, anvil_binary
from devnet.chain.deploy import deploy_all

pytestmark = pytest.mark.skipif(
    not anvil_binary().is_file(), reason="anvil is not installed (make test installs it)"
)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _port_is_closed(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_register_and_claim_over_json_rpc() -> None:
    with AnvilProcess() as anvil:
        pid, port = anvil.pid, anvil.port
        w3 = anvil.web3()
        assert w3.eth.chain_id == 31337
        admin, wallet, reward = w3.eth.accounts[0], w3.eth.accounts[1], w3.eth.accounts[2]
        dep = deploy_all(w3, admin)
        assert dep.rpc_url == anvil.rpc_url == f"http://127.0.0.1:{port}"
        assert dep.chain_id == 31337

        registry = dep.contract(w3, "FizzRegistry")
        params = (dep.gateway_provider_id, "linux,4", wallet, [dep.address("USPON")], reward)
        tx = registry.functions.addFizzNode(params).transact({"from": wallet})
        receipt = w3.eth.wait_for_transaction_receipt(tx)
        (added,) = registry.events.FizzNodeAdded().process_receipt(receipt)
        assert added["args"]["fizzId"] == 1 and added["args"]["walletAddress"] == wallet

        # over JSON-RPC a revert arrives as ContractCustomError with the raw error data
        with pytest.raises(ContractCustomError) as caught:
            registry.functions.addFizzNode(params).transact({"from": wallet})
        assert caught.value.data == "0x" + keccak(text="FizzAlreadyRegistered()")[:4].hex()

        attributes = dep.contract(w3, "FizzAttributeRegistry").functions
        tx = attributes.submitAttributes("CPU", [1], [4]).transact({"from": wallet})
        w3.eth.wait_for_transaction_receipt(tx)
        rewards = dep.contract(w3, "FizzRewardsManager").functions
        per_era = rewards.getFizzRewardsPerEra(wallet).call()
        assert per_era == 4 * 25 * 10**18 // 5  # 4 units x 0.2 x 25 SPON
        tx = rewards.addFizzPendingRewards([wallet], [per_era]).transact({"from": dep.settler})
        w3.eth.wait_for_transaction_receipt(tx)
        tx = rewards.claimRewards(wallet).transact({"from": wallet})
        assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
        spon = dep.contract(w3, "RewardToken").functions
        assert spon.balanceOf(reward).call() == per_era
        assert rewards.pendingRewards(wallet).call() == 0
        log_path = anvil.log_path
        assert log_path is not None and log_path.exists()
    assert _gone(pid)
    assert _port_is_closed(port)
    assert not log_path.exists()


def test_a_chosen_port_and_chain_id() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with AnvilProcess(port=port, chain_id=4242) as anvil:
        assert anvil.port == port
        assert Web3(Web3.HTTPProvider(anvil.rpc_url)).eth.chain_id == 4242
        pid = anvil.pid
    assert _gone(pid)


def test_a_missing_binary_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(AnvilNotFoundError, match="make test"):
        AnvilProcess(binary=tmp_path / "anvil").start()
