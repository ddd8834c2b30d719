"""Tenants giving nodes leases through the reference gateway, end to end: the in-process chain,
the tenant API over real HTTP on loopback, a real NodeClient acting as the node (it serves a
tiny HTTP server per lease), and the lease's public port carried through the tunnel."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from web3.logs import DISCARD

from devnet.chain.accounts import gateway_account
from devnet.chain.faucet import fund
from devnet.chain.tx import send, send_signed
from devnet.gateway.deployments import DeploymentError
from devnet.gateway.server import GatewayServer
from devnet.gateway.tls import self_signed_certificate
from fizz_app.core.pinning import pinned_client_context
from gateway_client.backoff import ReconnectPolicy
from gateway_client.client import Connection, NodeClient
from gateway_client.messages import (
    ClientInfo,
    LeaseAccept,
    LeaseAnnouncement,
    LeaseClose,
    LeaseLogs,
    LeaseOffer,
    LeaseReject,
    LeaseStatus,
    LogsRequest,
    Manifest,
    Usage,
)
from gateway_client.protocol import ControlReceived, Event, Welcomed

from .gateway_env import (
    CAPACITY,
    Chain,
    HttpAnswer,
    free_port_range,
    gateway_running,
    http_get,
    http_request,
    http_server,
    signer,
    status_of,
    wait_for,
)

RESOURCES = {
    "id": 1,
    "cpu": {"units": {"val": "500"}},
    "memory": {"size": {"val": "268435456"}},
    "storage": [{"name": "default", "size": {"val": "1073741824"}}],
}
SERVICE = {
    "name": "web",
    "image": "nginx:alpine",
    "resources": RESOURCES,
    "count": 1,
    "expose": [{"port": 80, "externalPort": 0, "proto": "TCP", "global": True}],
}
PRICE = 10**6


pytestmark = pytest.mark.usefixtures("one_chain_thread")


@pytest.fixture(scope="module")
def chain(gateway_chain: Chain) -> Chain:
    return gateway_chain


@dataclass
class LeaseNode:
    """A node that takes leases: it accepts offers (or rejects them, or stays silent), serves
    each manifest with a tiny HTTP server on loopback, and answers log requests."""

    account: LocalAccount
    reject: str | None = None
    silent: bool = False
    offers: list[LeaseOffer] = field(default_factory=list)
    manifests: list[Manifest] = field(default_factory=list)
    closes: list[LeaseClose] = field(default_factory=list)
    log_requests: list[LogsRequest] = field(default_factory=list)
    servers: dict[str, asyncio.Server] = field(default_factory=dict)
    running: dict[str, int] = field(default_factory=dict)
    client: NodeClient | None = None

    async def on_event(self, connection: Connection, event: Event) -> None:
        if isinstance(event, Welcomed):
            connection.send_control(CAPACITY)
            for lease_id, port in self.running.items():
                connection.send_control(
                    LeaseStatus(lease_id=lease_id, state="running", ports=(port,))
                )
            return
        if not isinstance(event, ControlReceived):
            return
        message = event.message
        if isinstance(message, LeaseOffer):
            self.offers.append(message)
            if self.silent:
                return
            if self.reject is not None:
                connection.send_control(LeaseReject(lease_id=message.lease_id, reason=self.reject))
            else:
                connection.send_control(LeaseAccept(lease_id=message.lease_id))
        elif isinstance(message, Manifest):
            self.manifests.append(message)
            lease_id = message.lease_id
            connection.send_control(LeaseStatus(lease_id=lease_id, state="pending"))
            server, port = await http_server(f"hello from {lease_id}".encode())
            self.servers[lease_id] = server
            self.running[lease_id] = port
            connection.send_control(LeaseStatus(lease_id=lease_id, state="running", ports=(port,)))
            connection.send_control(
                Usage(
                    lease_id=lease_id,
                    cpu_seconds=1.5,
                    memory_peak_bytes=1024,
                    bytes_in=10,
                    bytes_out=20,
                    at=1.0,
                )
            )
        elif isinstance(message, LogsRequest):
            self.log_requests.append(message)
            lines = [f"{message.lease_id} line {i}" for i in range(250)]
            # Two messages, as a long tail would be split: the gateway must gather both.
            connection.send_control(LeaseLogs(lease_id=message.lease_id, lines=tuple(lines[:100])))
            connection.send_control(LeaseLogs(lease_id=message.lease_id, lines=tuple(lines[100:])))
        elif isinstance(message, LeaseClose):
            self.closes.append(message)
            self.running.pop(message.lease_id, None)
            if message.lease_id in self.servers:
                self.servers.pop(message.lease_id).close()

    def announced(self) -> list[LeaseAnnouncement]:
        return [
            LeaseAnnouncement(lease_id=lease_id, ports=(port,), state="running")
            for lease_id, port in self.running.items()
        ]


@contextlib.asynccontextmanager
async def lease_node(
    gateway: GatewayServer, account: LocalAccount, **kwargs: Any
) -> AsyncIterator[LeaseNode]:
    node = LeaseNode(account, **kwargs)
    node.client = NodeClient(
        gateway.url,
        address=account.address,
        sign=signer(account),
        client=ClientInfo(name="fizz-node-test", version="0", instance_id="lease-node"),
        leases=node.announced,
        on_event=node.on_event,
        policy=ReconnectPolicy(initial=0.05, maximum=0.2),
    )
    task = asyncio.create_task(node.client.run())
    try:
        await wait_for(lambda: gateway.sessions.open_session(account.address) is not None)
        yield node
    finally:
        node.client.stop()
        await asyncio.wait_for(task, 10)
        for server in node.servers.values():
            server.close()


def manifest_body(*services: dict[str, Any]) -> bytes:
    return json.dumps([{"name": "placement-1", "services": list(services or [SERVICE])}]).encode()


async def put_manifest(
    gateway: GatewayServer,
    lease_id: str,
    body: bytes,
    node: str | None = None,
    price: str | None = None,
) -> HttpAnswer:
    params = [f"node={node}"] if node is not None else []
    params += [f"price={price}"] if price is not None else []
    query = f"?{'&'.join(params)}" if params else ""
    return await http_request(
        gateway.api_port, "PUT", f"/deployment/{lease_id}/manifest{query}", body
    )


async def lease_status(gateway: GatewayServer, lease_id: str) -> dict[str, Any]:
    answer = await http_request(gateway.api_port, "GET", f"/lease/{lease_id}/status")
    assert answer.status == 200, answer.body
    result: dict[str, Any] = answer.json()
    return result


def create_chain_lease(chain: Chain, fizz_id: int) -> int:
    """The real flow up to the lease (spheron-network.md §6.1): the tenant deposits and orders,
    the gateway bids for the node, the order is matched and the lease created."""
    w3, deployment = chain.w3, chain.deployment
    tenant = list(w3.eth.accounts)[3]
    token = deployment.address("USPON")
    fund(w3, deployment, tenant, 0, 500 * 10**6)
    uspon = deployment.contract(w3, "USPON")
    send(w3, uspon.functions.approve(deployment.address("EscrowUser"), 500 * 10**6), tenant)
    escrow = deployment.contract(w3, "EscrowUser")
    send(w3, escrow.functions.deposit(token, 500 * 10**6), tenant)
    orders = deployment.contract(w3, "OrderRequest")
    receipt = send(w3, orders.functions.createOrder((PRICE, 100, token, "demo", 1, 0, [])), tenant)
    created = orders.events.OrderCreated().process_receipt(receipt, errors=DISCARD)
    order_id = int(created[0]["args"]["orderId"])
    bid = deployment.contract(w3, "Bid")
    send_signed(w3, bid.functions.placeBid(order_id, PRICE, fizz_id), gateway_account())
    gateway = deployment.gateway_address
    send(w3, bid.functions.matchOrder(order_id, gateway, fizz_id), deployment.admin)
    lease = deployment.contract(w3, "ComputeLease")
    send(w3, lease.functions.createLease(order_id, PRICE, gateway, fizz_id), deployment.settler)
    return order_id


def lease_running(gateway: GatewayServer, account: LocalAccount, lease_id: str) -> bool:
    lease = gateway.leases.get(account.address, lease_id)
    return lease is not None and lease.running


def fizz_id_of(chain: Chain, account: LocalAccount) -> int:
    registration = chain.client.registration(account.address)
    assert registration is not None
    return registration.fizz_id


# ---- The whole flow ------------------------------------------------------------------------------


async def test_tenant_deploys_reaches_and_closes_a_lease(
    chain: Chain, gateway: GatewayServer
) -> None:
    account = chain.register()
    async with lease_node(gateway, account) as node:
        answer = await put_manifest(gateway, "tenant-1", manifest_body(), account.address)
        assert answer.status == 200, answer.body
        assert answer.headers["content-type"] == "application/json"
        assert answer.json() == {
            "lease_id": "tenant-1",
            "node": account.address,
            "state": "pending",
        }
        (offer,) = node.offers
        assert (offer.lease_id, offer.order_id, offer.price_per_block) == ("tenant-1", 0, "0")
        assert offer.resources == RESOURCES
        await wait_for(lambda: len(node.manifests) == 1)
        assert node.manifests[0].services == (SERVICE,)

        async def running() -> bool:
            return bool((await lease_status(gateway, "tenant-1"))["forwarded_ports"])

        await wait_until_true(running)
        report = await lease_status(gateway, "tenant-1")
        (forwarded,) = report["forwarded_ports"]["web"]
        public = forwarded["externalPort"]
        assert public in gateway.ports.range
        assert forwarded == {
            "host": "127.0.0.1",
            "port": 80,
            "externalPort": public,
            "proto": "TCP",
            "name": "web",
            "available": 1,
        }
        assert report["services"]["web"]["ready_replicas"] == 1
        assert report["services"]["web"]["total"] == 1
        assert (report["state"], report["node"]) == ("running", account.address)
        assert report["usage"]["cpu_seconds"] == 1.5
        # The real SDK's path answers the same.
        real = await http_request(gateway.api_port, "GET", "/lease/tenant-1/1/1/status")
        assert real.json()["forwarded_ports"] == report["forwarded_ports"]

        # A tenant's client reaches the service through the public port and the tunnel.
        assert await http_get(public) == (200, b"hello from tenant-1")

        logs = await http_request(gateway.api_port, "GET", "/lease/tenant-1/logs?tail=120")
        assert logs.status == 200
        assert logs.json()["lines"] == [f"tenant-1 line {i}" for i in range(130, 250)]
        assert node.log_requests[-1].tail == 120
        assert await gateway.lease_logs("tenant-1", 0) == [f"tenant-1 line {i}" for i in range(250)]

        row = next(
            r for r in (await status_of(gateway.port))["leases"] if r["lease_id"] == "tenant-1"
        )
        assert row["state"] == "running" and row["usage"]["bytes_out"] == 20

        closed = await http_request(gateway.api_port, "PUT", "/lease/tenant-1/close", b"")
        assert closed.status == 200
        assert closed.json() == {"lease_id": "tenant-1", "node": account.address, "state": "closed"}
        await wait_for(lambda: [c.lease_id for c in node.closes] == ["tenant-1"])
        assert not gateway.ports.of(account.address, "tenant-1")
        with pytest.raises(OSError):
            await http_get(public)
        report = await lease_status(gateway, "tenant-1")
        assert report["state"] == "closed" and report["forwarded_ports"] == {}
        assert report["services"]["web"]["ready_replicas"] == 0
        # Closing again changes nothing; deploying the ended id again is refused.
        again = await http_request(gateway.api_port, "PUT", "/lease/tenant-1/close", b"")
        assert again.status == 200 and again.json()["state"] == "closed"
        redeploy = await put_manifest(gateway, "tenant-1", manifest_body(), account.address)
        assert redeploy.status == 409 and "new id" in redeploy.json()["error"]


async def wait_until_true(probe: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await probe():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_chain_lease_names_its_node_order_and_price(
    chain: Chain, gateway: GatewayServer
) -> None:
    account = chain.register()
    lease_id = create_chain_lease(chain, fizz_id_of(chain, account))
    other = chain.register()
    async with lease_node(gateway, account) as node:
        # A node named against the chain is refused before any offer.
        wrong = await put_manifest(gateway, str(lease_id), manifest_body(), other.address)
        assert wrong.status == 400 and f"belongs to node {account.address}" in wrong.json()["error"]
        answer = await put_manifest(gateway, str(lease_id), manifest_body())
        assert answer.status == 200, answer.body
        assert answer.json()["node"] == account.address
        (offer,) = node.offers
        assert (offer.order_id, offer.price_per_block) == (lease_id, str(PRICE))
        await wait_for(lambda: lease_running(gateway, account, str(lease_id)))
        report = await lease_status(gateway, str(lease_id))
        assert report["order_id"] == lease_id and report["price_per_block"] == str(PRICE)
        # Ended on chain: the tenant closes it there (ComputeLease.closeLease).
        lease = chain.deployment.contract(chain.w3, "ComputeLease")
        send(chain.w3, lease.functions.closeLease(lease_id), list(chain.w3.eth.accounts)[3])
        closed = await http_request(gateway.api_port, "PUT", f"/lease/{lease_id}/close", b"")
        assert closed.status == 200
    # A terminated chain lease is not deployed again; a number the chain lacks needs a node.
    later = await put_manifest(gateway, str(lease_id), manifest_body())
    assert later.status == 409 and "terminated on chain" in later.json()["error"]
    missing = await put_manifest(gateway, "999999", manifest_body())
    assert missing.status == 404 and "not on chain" in missing.json()["error"]
    named = await put_manifest(gateway, "not-a-number", manifest_body())
    assert named.status == 404 and "?node=" in named.json()["error"]


# ---- Refusals ------------------------------------------------------------------------------------


async def test_a_rejecting_node_gives_the_tenant_its_reason(
    chain: Chain, gateway: GatewayServer
) -> None:
    account = chain.register()
    async with lease_node(gateway, account, reject="not enough memory: 256 MiB asked") as node:
        answer = await put_manifest(gateway, "tenant-2", manifest_body(), account.address)
        assert answer.status == 409
        error = answer.json()["error"]
        assert f"node {account.address} rejected lease tenant-2" in error
        assert "not enough memory: 256 MiB asked" in error
        assert len(node.offers) == 1 and not node.manifests
        assert gateway.leases.get(account.address, "tenant-2") is None
        status = await http_request(gateway.api_port, "GET", "/lease/tenant-2/status")
        assert status.status == 404


async def test_a_node_that_is_not_connected_is_named(chain: Chain, gateway: GatewayServer) -> None:
    account = chain.register()
    answer = await put_manifest(gateway, "tenant-3", manifest_body(), account.address)
    assert answer.status == 503
    assert answer.json() == {"error": f"node {account.address} is not connected to this gateway"}
    bad = await put_manifest(gateway, "tenant-3", manifest_body(), "0x1234")
    assert bad.status == 400 and "not a wallet address" in bad.json()["error"]
    with pytest.raises(DeploymentError) as caught:
        await gateway.deploy("tenant-3", [SERVICE], node=account.address.lower())
    assert caught.value.status == 503 and account.address in caught.value.message


async def test_an_offer_without_answer_times_out(chain: Chain, tmp_path: Path) -> None:
    account = chain.register()
    async with (
        gateway_running(chain, tmp_path, offer_timeout=0.3) as gateway,
        lease_node(gateway, account, silent=True) as node,
    ):
        answer = await put_manifest(gateway, "tenant-4", manifest_body(), account.address)
        assert answer.status == 504
        assert "did not answer the offer of lease tenant-4" in answer.json()["error"]
        # The node is told, so a late accept leaves nothing running.
        await wait_for(lambda: [c.lease_id for c in node.closes] == ["tenant-4"])
        # A node that leaves while an offer waits ends the wait at once.
        deploy = asyncio.create_task(
            gateway.deploy("tenant-5", [SERVICE], node=account.address, timeout=30)
        )
        await wait_for(lambda: len(node.offers) == 2)
        assert node.client is not None
        node.client.stop()
        with pytest.raises(DeploymentError) as caught:
            await asyncio.wait_for(deploy, 10)
        assert caught.value.status == 503 and "disconnected" in caught.value.message


async def test_bad_requests_get_clear_answers_and_hurt_nobody(
    chain: Chain, gateway: GatewayServer
) -> None:
    account = chain.register()
    port = gateway.api_port
    async with lease_node(gateway, account) as node:
        cases: list[tuple[HttpAnswer, int, str]] = [
            (await put_manifest(gateway, "x", b"{not json", account.address), 400, "not JSON"),
            (await put_manifest(gateway, "x", b"[NaN]", account.address), 400, "not JSON"),
            (await put_manifest(gateway, "x", b"[[[[" * 100_000, account.address), 400, "JSON"),
            (await put_manifest(gateway, "x", b"\xff\xfe", account.address), 400, "not JSON"),
            (await put_manifest(gateway, "x", b"[]", account.address), 400, "list of groups"),
            (
                await put_manifest(gateway, "x", b'[{"name": "g"}]', account.address),
                400,
                "no services",
            ),
            (
                await put_manifest(gateway, "x", manifest_body({"image": "a"}), account.address),
                400,
                "has no name",
            ),
            (
                await put_manifest(gateway, "bad%20id!", manifest_body(), account.address),
                400,
                "not a lease id",
            ),
            (
                await http_request(port, "PUT", "/deployment/x/manifest", b"x" * (1024 * 1024 + 1)),
                413,
                "at most 1048576",
            ),
            (
                await put_manifest(
                    gateway,
                    "x",
                    manifest_body({**SERVICE, "env": ["A=" + "a" * 70_000]}),
                    account.address,
                ),
                413,
                "at most 65536",
            ),
            (await http_request(port, "PUT", "/deployment/x/manifest"), 411, "Content-Length"),
            (await http_request(port, "GET", "/deployment/x/manifest"), 405, "use PUT"),
            (await http_request(port, "GET", "/lease/nope/status"), 404, "no lease nope"),
            (await http_request(port, "GET", "/lease/nope/logs"), 404, "no lease nope"),
            (await http_request(port, "PUT", "/lease/nope/close", b""), 404, "no lease nope"),
            (await http_request(port, "GET", "/lease/x/logs?tail=lots"), 400, "tail"),
            (await http_request(port, "GET", "/lease/x/logs?follow=true"), 400, "follow"),
            (await http_request(port, "GET", "/nothing/here"), 404, "no such endpoint"),
            (await http_request(port, "", "", raw=b"NONSENSE\r\n\r\n"), 400, "request line"),
            (
                await http_request(
                    port, "", "", raw=b"GET / HTTP/1.1\r\nX: " + b"a" * 20_000 + b"\r\n\r\n"
                ),
                431,
                "exceed",
            ),
            (
                await http_request(
                    port,
                    "PUT",
                    "/deployment/x/manifest",
                    b"[]",
                    headers={"Transfer-Encoding": "chunked"},
                ),
                411,
                "chunked",
            ),
        ]
        for answer, status, text in cases:
            assert answer.status == status, (status, text, answer.body)
            assert text in answer.json()["error"], (text, answer.body)
        assert cases[11][0].headers["allow"] == "PUT"
        assert not node.offers  # nothing bad reached the node
        # The gateway, the node's session and the API all carry on.
        assert await http_request(port, "GET", "/healthz") == HttpAnswer(
            200,
            {
                "content-type": "text/plain; charset=utf-8",
                "content-length": "2",
                "connection": "close",
            },
            b"ok",
        )
        status = (await http_request(port, "GET", "/status")).json()
        assert status["gateway"]["sessions"] == 1
        big = await http_request(
            port,
            "PUT",
            f"/deployment/tenant-6/manifest?node={account.address}",
            manifest_body(),
            headers={"Expect": "100-continue"},
        )
        assert (big.status, big.interim) == (200, 1), big.body


async def test_tenant_api_speaks_https_with_the_gateway_certificate(
    chain: Chain, tmp_path: Path
) -> None:
    certificate = self_signed_certificate("127.0.0.1")
    async with gateway_running(chain, tmp_path, certificate=certificate) as gateway:
        assert gateway.api_url == f"https://127.0.0.1:{gateway.api_port}"
        context = pinned_client_context(certificate.cert_pem)
        answer = await http_request(gateway.api_port, "GET", "/status", ssl_context=context)
        assert answer.status == 200 and answer.json()["gateway"]["id"] == chain.gateway_id
        missing = await http_request(
            gateway.api_port, "PUT", "/deployment/7/manifest", manifest_body(), ssl_context=context
        )
        assert missing.status == 404


async def test_a_deployed_lease_survives_a_gateway_restart(chain: Chain, tmp_path: Path) -> None:
    account = chain.register()
    ports = free_port_range()
    first = gateway_running(chain, tmp_path, public_ports=ports)
    async with first as gateway, lease_node(gateway, account):
        answer = await put_manifest(gateway, "tenant-8", manifest_body(), account.address)
        assert answer.status == 200
        await wait_for(lambda: bool(gateway.ports.of(account.address, "tenant-8")))
        (public,) = gateway.ports.of(account.address, "tenant-8").values()
    # The node is gone with the first gateway; the lease, its port and its services are kept.
    async with gateway_running(chain, tmp_path, public_ports=ports) as gateway:
        report = await lease_status(gateway, "tenant-8")
        assert report["state"] == "running"
        assert report["forwarded_ports"]["web"][0]["externalPort"] == public
        assert report["forwarded_ports"]["web"][0]["port"] == 80


async def test_a_devnet_lease_names_its_price_and_a_bad_price_is_refused(
    chain: Chain, gateway: GatewayServer
) -> None:
    account = chain.register()
    async with lease_node(gateway, account) as node:
        bad = await put_manifest(gateway, "p-1", manifest_body(), account.address, price="-3")
        assert bad.status == 400 and "is not a number of base units" in bad.json()["error"]
        assert node.offers == []
        answer = await put_manifest(gateway, "p-2", manifest_body(), account.address, price="1.5")
        assert answer.status == 200, answer.body
        assert node.offers[0].price_per_block == "1.5"
