"""End to end on the whole local network, every part real and in its own process, as a user
runs them: ``fizz-node devnet up`` (anvil + contracts, the gateway with its bidding agent and
settlement, the matchmaker, a private Podman engine), a fresh node set up with the CLI
(wallet, faucet, register, limits) and ``fizz-node run``, and the demo tenant
(``fizz-node devnet tenant``: order -> bid at the node's price -> lease -> manifest -> the
container serves its page through the gateway's public port; a WebAssembly job's output checked
in the lease logs; leases closed on chain). Then the money: lease earnings in EscrowProtocol
equal the node's ledger and ``fizz-node status --json``; era rewards accrue and are claimed.
Finally ``devnet up`` stops on SIGTERM with nothing left running."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from devnet.chain.anvil import anvil_binary
from devnet.supervise import Child, cli_json, fizz_node_command, free_port, spawn, wait_for
from tests.e2e.processes import node_env, ours, until, walk

pytestmark = pytest.mark.timeout(400)

ERA_SECONDS = 10


@pytest.fixture
def network(tmp_path: Path) -> Iterator[tuple[dict[str, str], Child, Path]]:
    if shutil.which("podman") is None or not anvil_binary().is_file():
        pytest.skip("podman and anvil are needed (make test installs them)")
    home = tmp_path / "home"
    home.mkdir()
    env = node_env(home)
    public = free_port()
    argv = [fizz_node_command(), "devnet", "up", "--era-seconds", str(ERA_SECONDS),
            "--port", str(free_port()), "--gateway-port", str(free_port()),
            "--api-port", str(free_port()), "--public-ports", f"{public}-{public}"]  # fmt: skip
    up = spawn("up", argv, env, tmp_path)
    try:
        wait_for(up, r"ready\.", 120)
        yield env, up, home
    finally:
        up.stop(grace_s=40)
        for process in ours(home):  # never leave anything behind, even on failure
            process.kill()


def test_wallet_to_earnings_on_the_devnet(
    network: tuple[dict[str, str], Child, Path], tmp_path: Path
) -> None:
    env, up, home = network
    fizz = fizz_node_command()
    address = cli_json(fizz, env, "wallet", "create")["address"]
    cli_json(fizz, env, "devnet", "faucet")
    registered = cli_json(fizz, env, "register", "--region", "us-east", "--network", "devnet")
    fizz_id = int(registered["fizz_id"])
    cli_json(fizz, env, "limits", "set", "--idle-only", "off")
    description = json.loads((home / "devnet" / "up.json").read_text())
    node_env = {**env, "DOCKER_HOST": description["docker_host"]}
    node = spawn("node", [fizz, "run", "--json"], node_env, tmp_path)
    try:
        wait_for(node, r'"status": "online"', 120)
        tenant = spawn(
            "tenant",
            [fizz, "devnet", "tenant", "--rounds", "1", "--lease-seconds", "4", "--timeout", "90"],
            env,
            tmp_path,
        )
        assert tenant.process.wait(240) == 0, tenant.output()
        said = tenant.output(100_000)
        assert "-> 200, page as expected" in said
        assert "job output verified (sum of squares 1..100 = 338350)" in said
        assert f"lease 1: fizz node {fizz_id}" in said

        from web3 import Web3

        from devnet.chain.deploy import Deployment

        deployment = Deployment.read(home / "devnet" / "deployment.json")
        w3 = Web3(Web3.HTTPProvider(deployment.rpc_url))
        escrow = deployment.contract(w3, "EscrowProtocol")
        uspon = deployment.address("USPON")
        lease = deployment.contract(w3, "ComputeLease")
        # Both leases ended on chain, with the bid's price (the node's ask).
        assert all(lease.functions.leases(i).call()[9] == 1 for i in (1, 2))
        on_chain = escrow.functions.fizzNodeEarnings(fizz_id, uspon).call()[0]
        assert on_chain > 0

        def ledger() -> int | None:
            """The node's booked lease earnings, from its latest earnings_changed event."""
            rows = [json.loads(line) for line in node.output(10_000_000).splitlines()
                    if '"earnings_changed"' in line]  # fmt: skip
            found = [int(v) for k, v in walk(rows[-1]) if k == "lease_earnings"] if rows else []
            return max(found) if found else None

        until(lambda: ledger() == on_chain, 30, f"the ledger to book {on_chain}")
        status = cli_json(fizz, env, "status", "--network", "devnet")
        assert int(status["earnings"][0]["earned"]["raw"]) == on_chain

        # A full era online at >= 50 % uptime: rewards are pending, then claimed in SPON.
        def pending() -> int:
            state = cli_json(fizz, env, "status", "--network", "devnet")
            return int(state["rewards"]["pending"]["raw"])

        until(lambda: pending() > 0, 4 * ERA_SECONDS + 20, "era rewards")
        cli_json(fizz, env, "rewards", "claim", "--network", "devnet")
        balances = cli_json(fizz, env, "status", "--network", "devnet")["balances"]["tokens"]
        spon = next(t for t in balances if t["symbol"] == "SPON")
        assert int(spon["raw"]) > 0, address
    finally:
        assert node.stop(grace_s=60) == 0, node.output()
    assert up.stop(grace_s=40) == 0, up.output()
    assert "stopped" in up.output()
    until(lambda: not ours(home), 15, "every devnet process to exit")
    assert not (home / "devnet" / "deployment.json").exists()
