"""End to end on a real local chain, as a user would: ``fizz-node devnet chain``, then
wallet, faucet, register, status, rewards claim and earnings withdraw."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from web3 import Web3

from devnet.chain.deploy import Deployment
from devnet.chain.tx import send

SCRIPT = Path(sys.executable).with_name("fizz-node")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Node:
    home: Path
    env: dict[str, str]
    rpc_url: str

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SCRIPT), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=120,
        )

    def json(self, *args: str) -> dict[str, object]:
        result = self.run(*args, "--json")
        assert result.returncode == 0, result.stderr
        data: dict[str, object] = json.loads(result.stdout)
        return data

    @property
    def deployment(self) -> Deployment:
        return Deployment.read(self.home / "devnet" / "deployment.json")


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    home = tmp_path_factory.mktemp("fizz-home")
    env = {
        **os.environ,
        "FIZZ_HOME": str(home),
        # No OS keyring in these runs: the wallet lives in the passphrase-encrypted keystore.
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "FIZZ_WALLET_PASSPHRASE": "devnet passphrase 1",
    }
    port = _free_port()
    chain = subprocess.Popen(
        [str(SCRIPT), "devnet", "chain", "--port", str(port), "--era-seconds", "60"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    deployment = home / "devnet" / "deployment.json"
    deadline = time.monotonic() + 60
    while not deployment.exists():
        if chain.poll() is not None or time.monotonic() > deadline:
            chain.kill()
            pytest.fail(f"fizz-node devnet chain did not start:\n{chain.communicate()[0]}")
        time.sleep(0.1)
    try:
        yield Node(home, env, f"http://127.0.0.1:{port}")
    finally:
        chain.send_signal(signal.SIGINT)
        try:
            output, _ = chain.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(chain.pid, signal.SIGKILL)
            raise
        assert chain.returncode == 0, output
        assert not deployment.exists(), "the deployment file outlived its chain"


def test_the_whole_registration_flow(node: Node) -> None:
    created = node.json("wallet", "create")
    address = str(created["address"])

    status = node.json("status")
    assert status["registered"] is False and status["address"] == address

    broke = node.run("register", "--region", "us-east")
    assert broke.returncode == 2
    assert "too little ETH" in broke.stderr and "fizz-node devnet faucet" in broke.stderr

    funded = node.json("devnet", "faucet")
    assert funded["address"] == address and funded["uspon"] == "1000"

    registered = node.json("register", "--region", "us-east")
    fizz_id = registered["fizz_id"]
    assert isinstance(fizz_id, int) and fizz_id >= 1
    assert str(registered["spec"]).split(",")[7] == "us-east"
    assert "cpu_attributes" in registered["transactions"]  # type: ignore[operator]

    status = node.json("status")
    registration = status["registration"]
    assert isinstance(registration, dict)
    assert registration["fizz_id"] == fizz_id and registration["status_name"] == "registered"
    rewards = status["rewards"]
    assert isinstance(rewards, dict) and int(rewards["per_era"]["raw"]) > 0  # type: ignore[index]

    again = node.run("register", "--region", "us-east")
    assert again.returncode == 2 and f"already registered as Fizz node {fizz_id}" in again.stderr

    settings = json.loads((node.home / "settings.json").read_text())
    assert settings["node"] == {"region": "us-east", "gateway_id": 1}


def test_claim_rewards_and_withdraw_nothing(node: Node) -> None:
    address = str(node.json("wallet", "show")["address"])
    nothing = node.run("rewards", "claim")
    assert nothing.returncode == 2 and "no pending rewards" in nothing.stderr

    w3 = Web3(Web3.HTTPProvider(node.rpc_url))
    manager = node.deployment.contract(w3, "FizzRewardsManager")
    send(
        w3,
        manager.functions.addFizzPendingRewards([address], [3 * 10**18]),
        node.deployment.admin,
    )
    claimed = node.json("rewards", "claim")
    assert claimed["claimed"]["value"].startswith("3")  # type: ignore[index]
    tokens = node.json("status")["balances"]["tokens"]  # type: ignore[index]
    spon = next(t for t in tokens if t["symbol"] == "SPON")
    assert spon["raw"] == str(3 * 10**18)

    empty = node.run("earnings", "withdraw")
    assert empty.returncode == 2 and "0 uSPON to withdraw" in empty.stderr
    bad = node.run("earnings", "withdraw", "--amount", "-3")
    assert bad.returncode == 2


def test_wrong_chain_is_named(node: Node) -> None:
    wrong = node.run("status", "--network", "base-sepolia", "--rpc-url", node.rpc_url)
    assert wrong.returncode == 2
    assert "serves chain 31337" in wrong.stderr and "84532" in wrong.stderr


def test_register_needs_a_region(node: Node, tmp_path: Path) -> None:
    env = {**node.env, "FIZZ_HOME": str(tmp_path)}
    result = subprocess.run(
        [str(SCRIPT), "register"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 2
    assert "--region" in result.stderr


def test_saved_custom_rpc_is_used_for_the_saved_network(node: Node, tmp_path: Path) -> None:
    (tmp_path / "settings.json").write_text(
        json.dumps({"schema_version": 1, "network": "base-sepolia", "rpc_url": node.rpc_url})
    )
    env = {**node.env, "FIZZ_HOME": str(tmp_path)}
    subprocess.run(
        [str(SCRIPT), "wallet", "create"], capture_output=True, env=env, timeout=60, check=True
    )
    result = subprocess.run(
        [str(SCRIPT), "status"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 2
    assert f"The RPC endpoint {node.rpc_url} serves chain 31337" in result.stderr
