"""The node engine with every real part: the in-process chain with the real contracts, the
reference gateway over wss with a pinned certificate, a keystore wallet, the real container
runner on Podman and the WebAssembly runner. A tenant gives the node leases through the
gateway's API; the engine runs them, reports them, and answers pause, price and restart."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.request
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from web3.logs import DISCARD

from devnet.chain.accounts import gateway_account
from devnet.chain.faucet import fund
from devnet.chain.provider import publish_gateway
from devnet.chain.tx import send, send_signed
from devnet.engine.images import INDEX_HTML
from devnet.gateway.deployments import DeploymentError
from devnet.gateway.server import GatewayServer
from devnet.gateway.tls import self_signed_certificate
from devnet.tenant import compute_service as wasm_service
from devnet.tenant import web_service as http_service
from fizz_app.core.chain import AsyncChainClient
from fizz_app.core.config import SettingsStore
from fizz_app.core.errors import UserFacingError
from fizz_app.core.jobs.container import ContainerRunner
from fizz_app.core.jobs.wasm import WasmRunner
from fizz_app.core.node import Node
from fizz_app.core.policy import DAYS
from fizz_app.core.state import DesiredState, NodeStatus
from fizz_app.core.wallet import WalletManager
from gateway_client.backoff import ReconnectPolicy
from gateway_client.protocol import TunnelConfig
from tests.local_network import until as _until_within

from ..devnet.gateway_env import Chain, free_port_range

MIB = 1024**2
PASSPHRASE = "engine-test-passphrase"
CONFIG = TunnelConfig(heartbeat_interval=0.2, heartbeat_timeout=5.0)


@pytest.fixture(scope="module")
def chain(gateway_chain: Chain) -> Chain:
    return gateway_chain


@pytest.fixture
async def gateway(chain: Chain, tmp_path: Path) -> AsyncIterator[GatewayServer]:
    certificate = self_signed_certificate("127.0.0.1")
    server = GatewayServer(
        AsyncChainClient(chain.client),
        chain.gateway_id,
        public_ports=free_port_range(),
        certificate=certificate,
        config=CONFIG,
        state_path=tmp_path / "gateway-state.json",
        offer_timeout=10.0,
    )
    await server.start()
    publish_gateway(
        chain.w3, chain.deployment, host_uri=server.url, certificate=certificate.cert_pem
    )
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def make_node(
    chain: Chain, fizz_home: Path, podman_socket: str, request: pytest.FixtureRequest
) -> Callable[[], Node]:
    """A factory of engines for one registered node (same wallet and data folder each time,
    like restarts of the app); a test marked ``unregistered`` gets a funded wallet only."""
    account = (
        chain.funded() if request.node.get_closest_marker("unregistered") else chain.register()
    )
    wallets = WalletManager(fizz_home, None, scrypt_n=16)
    wallets.import_private_key(account.key.hex(), PASSPHRASE)
    store = SettingsStore(fizz_home / "settings.json")
    store.update_section("limits", idle_only=False, pause_on_fullscreen=False)

    def make() -> Node:
        return Node(
            store=store,
            data_dir=fizz_home,
            wallets=wallets,
            passphrase=lambda: PASSPHRASE,
            chain=lambda settings: AsyncChainClient(chain.client),
            runners=lambda instance: [
                ContainerRunner(f"e{instance[:12]}", base_url=podman_socket),
                WasmRunner(fizz_home / "leases" / "wasm"),
            ],
            link_options={"policy": ReconnectPolicy(initial=0.05, maximum=0.3), "config": CONFIG},
            tick=0.1,
            chain_every=0.5,
        )

    make.address = account.address  # type: ignore[attr-defined]
    return make


async def until(predicate: Callable[[], object], timeout: float = 60.0, what: str = "") -> None:
    """Leases and containers take longer than state changes: wait up to a minute."""
    await _until_within(predicate, timeout, what, every=0.05)


def lease_of(node: Node, lease_id: str) -> dict[str, Any] | None:
    return next((row for row in node.snapshot().leases if row["lease_id"] == lease_id), None)


def http_get(port: int) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
        body: bytes = response.read()
        return body


async def test_a_lease_runs_end_to_end_through_the_engine(
    make_node: Callable[[], Node], gateway: GatewayServer, busybox_image: str
) -> None:
    async with make_node() as node:
        await node.start()
        await until(lambda: node.snapshot().status is NodeStatus.ONLINE, what="online")
        snapshot = node.snapshot()
        assert snapshot.accepting and snapshot.why_no_jobs == ""
        assert snapshot.gateway is not None and snapshot.gateway["connected"]
        assert snapshot.prices is not None and snapshot.prices["token"] == "uSPON"
        name = make_node.address[2:].lower()  # type: ignore[attr-defined]
        inventory = gateway.status()
        assert any(name in str(node_row).lower() for node_row in [inventory])

        await gateway.deploy(
            "7001",
            [http_service(busybox_image)],
            node=make_node.address,  # type: ignore[attr-defined]
            price_per_block="1000",
        )
        await until(
            lambda: (lease_of(node, "7001") or {}).get("state") == "running", what="running"
        )
        # The node's "running" reaches the gateway a moment later, through the tunnel.
        await until(
            lambda: gateway.lease_report("7001").get("forwarded_ports", {}).get("web"),
            what="the gateway to publish the port",
        )
        report = gateway.lease_report("7001")
        public = report["forwarded_ports"]["web"][0]["externalPort"]
        assert report["forwarded_ports"]["web"][0]["port"] == 8080
        assert await asyncio.to_thread(http_get, public) == INDEX_HTML

        logs = await gateway.lease_logs("7001", tail=50)
        assert any("Deployment startup complete" in line for line in logs)
        await until(lambda: gateway.lease_report("7001").get("usage"), what="usage report")

        await gateway.close_lease("7001")
        await until(lambda: (lease_of(node, "7001") or {}).get("state") == "closed", what="closed")
        with pytest.raises(OSError):
            await asyncio.to_thread(http_get, public)


async def test_offers_are_judged_by_pause_price_and_size(
    make_node: Callable[[], Node], gateway: GatewayServer, busybox_image: str
) -> None:
    address = make_node.address  # type: ignore[attr-defined]
    async with make_node() as node:
        await node.start()
        await until(lambda: node.snapshot().status is NodeStatus.ONLINE, what="online")

        with pytest.raises(DeploymentError, match="below this node's"):
            await gateway.deploy("8001", [http_service(busybox_image)], node=address)
        await until(lambda: "below your price" in node.snapshot().why_no_jobs, what="why")
        assert node.snapshot().status is NodeStatus.ONLINE  # online, just priced above that
        big = http_service(busybox_image)
        big["resources"]["cpu"] = {"units": {"val": "64000"}}
        with pytest.raises(DeploymentError, match="of CPU but this node offers"):
            await gateway.deploy("8002", [big], node=address, price_per_block="10000000")

        await node.pause(3600)
        await until(lambda: node.snapshot().status is NodeStatus.PAUSED, what="paused")
        assert "Paused by you until" in node.snapshot().why_no_jobs
        with pytest.raises(DeploymentError, match="paused"):
            await gateway.deploy(
                "8003", [http_service(busybox_image)], node=address, price_per_block="1000"
            )
        await node.resume()
        await until(lambda: node.snapshot().status is NodeStatus.ONLINE, what="resumed")

        await gateway.deploy("8004", [wasm_service()], node=address, price_per_block="1000")
        await until(lambda: (lease_of(node, "8004") or {}).get("state") == "closed", what="done")
        assert lease_of(node, "8004")["reason"] == "the job finished (exit code 0)"  # type: ignore[index]
        await until(lambda: gateway.lease_report("8004")["state"] == "closed", what="gw closed")


async def test_price_changes_apply_live_and_the_desired_state_survives_a_restart(
    make_node: Callable[[], Node], gateway: GatewayServer, fizz_home: Path, busybox_image: str
) -> None:
    address = make_node.address  # type: ignore[attr-defined]
    async with make_node() as node:
        await node.start()
        await until(lambda: node.snapshot().status is NodeStatus.ONLINE, what="online")
        await gateway.deploy(
            "9001", [http_service(busybox_image)], node=address, price_per_block="1000"
        )
        await until(lambda: (lease_of(node, "9001") or {}).get("state") == "running", what="run")
        before = node.snapshot().prices
        # Another process (fizz-node pricing preset premium) edits the settings file.
        SettingsStore(fizz_home / "settings.json").update_section("pricing", preset="premium")
        await until(lambda: node.snapshot().prices != before, what="new prices")
        assert (
            node.snapshot().prices["cpu_per_thread_month_usd"] != before["cpu_per_thread_month_usd"]
        )  # type: ignore[index]
        new_cpu = node.snapshot().prices["cpu_per_thread_month_usd"]  # type: ignore[index]

        def gateway_price() -> str | None:
            nodes = gateway.status()["cluster"]["inventory"]["available"]["nodes"]
            row = next((n for n in nodes if n["name"] == address[2:].lower()), {})
            return row.get("prices", {}).get("cpu_per_thread_month_usd")

        await until(lambda: gateway_price() == new_cpu, what="the gateway sees the new price")
        assert (lease_of(node, "9001") or {}).get("state") == "running"  # untouched

    # Leaving the engine drained the lease; the user's "online" is kept for the next start.
    async with make_node() as again:
        assert again.snapshot().desired is DesiredState.ONLINE
        await until(lambda: again.snapshot().status is NodeStatus.ONLINE, what="back online")
        assert (lease_of(again, "9001") or {}).get("state") == "closed"
        with contextlib.suppress(Exception):
            await again.stop()


USPON = 10**6


def lease_on_chain(chain: Chain, fizz_id: int) -> tuple[str, str]:
    """A tenant's lease for ``fizz_id`` through the real flow (spheron-network.md 6.1):
    deposit, order, bid, match, lease. Returns (lease id, tenant address)."""
    w3, deployment = chain.w3, chain.deployment
    uspon = deployment.address("USPON")
    tenant = list(w3.eth.accounts)[3]
    fund(w3, deployment, tenant, 0, 500 * USPON)
    escrow_user = deployment.address("EscrowUser")
    send(w3, deployment.contract(w3, "USPON").functions.approve(escrow_user, 500 * USPON), tenant)
    send(w3, deployment.contract(w3, "EscrowUser").functions.deposit(uspon, 500 * USPON), tenant)
    orders = deployment.contract(w3, "OrderRequest")
    receipt = send(w3, orders.functions.createOrder((USPON, 100, uspon, "demo", 1, 0, [])), tenant)
    created = orders.events.OrderCreated().process_receipt(receipt, errors=DISCARD)
    order_id = created[0]["args"]["orderId"]
    bid = deployment.contract(w3, "Bid").functions.placeBid(order_id, USPON, fizz_id)
    send_signed(w3, bid, gateway_account())
    admin = deployment.admin
    gateway = deployment.gateway_address
    send(w3, deployment.contract(w3, "Bid").functions.matchOrder(order_id, gateway, fizz_id), admin)
    lease = deployment.contract(w3, "ComputeLease").functions.createLease(
        order_id, USPON, gateway, fizz_id
    )
    send(w3, lease, admin)
    return str(order_id), tenant


def settle(chain: Chain, tenant: str, fizz_id: int, amount: int) -> None:
    """What the devnet's settlement does: credit the node from the tenant's locked escrow."""
    w3, deployment = chain.w3, chain.deployment
    escrow = deployment.contract(w3, "EscrowProtocol").functions.transferLockedFizz(
        tenant, fizz_id, deployment.address("USPON"), amount
    )
    send(w3, escrow, deployment.admin)


async def test_on_chain_lease_earnings_reach_the_ledger_and_match_the_chain(
    make_node: Callable[[], Node], gateway: GatewayServer, chain: Chain, busybox_image: str
) -> None:
    address = make_node.address  # type: ignore[attr-defined]
    registration = await asyncio.to_thread(chain.client.registration, address)
    assert registration is not None
    fizz_id = registration.fizz_id
    lease_id, tenant = await asyncio.to_thread(lease_on_chain, chain, fizz_id)
    async with make_node() as node:
        await node.start()
        await until(lambda: node.snapshot().status is NodeStatus.ONLINE, what="online")
        deployed = await gateway.deploy(lease_id, [http_service(busybox_image)])  # node from chain
        assert deployed.node.lower() == address.lower()
        await until(lambda: (lease_of(node, lease_id) or {}).get("state") == "running", what="run")

        await asyncio.to_thread(settle, chain, tenant, fizz_id, 15 * USPON)
        assert gateway.credit_earnings(lease_id, "15")
        assert gateway.credit_earnings(lease_id, "15")  # re-delivered: booked once

        def booked() -> str | None:
            earnings = node.snapshot().earnings or {}
            return earnings.get("lifetime", {}).get("uSPON", {}).get("lease_earnings")

        await until(lambda: booked() == str(15 * USPON), what="earnings booked")
        withdrawn = await node.withdraw_earnings("5")
        assert withdrawn.amount.raw == 5 * USPON
        await until(
            lambda: any(
                "matches the chain: 15 uSPON" in line
                for line in (node.snapshot().earnings or {}).get("chain", [])
            ),
            what="reconciled with the chain",
        )


async def test_a_schedule_pauses_the_node_and_stop_on_pause_ends_leases_after_a_notice(
    make_node: Callable[[], Node], gateway: GatewayServer, fizz_home: Path, busybox_image: str
) -> None:
    address = make_node.address  # type: ignore[attr-defined]
    store = SettingsStore(fizz_home / "settings.json")
    store.update_section("limits", on_pause="stop", stop_notice_s=1, min_pause_s=0)
    async with make_node() as node:
        await node.start()
        await until(lambda: node.snapshot().status is NodeStatus.ONLINE, what="online")
        await gateway.deploy(
            "9501", [http_service(busybox_image)], node=address, price_per_block="1000"
        )
        await until(lambda: (lease_of(node, "9501") or {}).get("state") == "running", what="run")

        # A schedule window that is not now: the running node pauses, live.
        now = datetime.now()
        later = (now + timedelta(hours=2)).strftime("%H:%M")
        end = (now + timedelta(hours=3)).strftime("%H:%M")
        window = {"days": [DAYS[(now + timedelta(hours=2)).weekday()]], "start": later, "end": end}
        store.update_section("limits", schedule=[window])
        await until(lambda: node.snapshot().status is NodeStatus.PAUSED, what="scheduled pause")
        assert "schedule" in node.snapshot().why_no_jobs.lower()
        await until(
            lambda: "stopping in 1 s" in (gateway.lease_report("9501").get("reason") or ""),
            what="the gateway's notice",
        )
        await until(lambda: (lease_of(node, "9501") or {}).get("state") == "closed", what="stopped")

        store.update_section("limits", schedule=[])
        await until(lambda: node.snapshot().status is NodeStatus.ONLINE, what="resumed")


@pytest.mark.unregistered
async def test_a_new_wallet_registers_through_the_engine_and_goes_online(
    make_node: Callable[[], Node], gateway: GatewayServer
) -> None:
    async with make_node() as node:
        await node.start()
        await until(lambda: node.snapshot().status is NodeStatus.ERROR, what="not registered")
        assert "not registered" in node.snapshot().why_no_jobs
        result = await node.register(region="us-east", gateway_id=gateway.gateway_id)
        assert result.fizz_id > 0 and result.region == "us-east"
        assert node.settings.node.region == "us-east"
        await until(lambda: node.snapshot().status is NodeStatus.ONLINE, what="online")
        with pytest.raises(UserFacingError, match="already registered"):
            await node.register(region="us-east", gateway_id=gateway.gateway_id)
