"""The gateway renews its TLS certificate, or moves, while the node is online.

The node pins the certificate the gateway publishes on chain. When the gateway comes back with
another one, the node's reconnects fail TLS verification; the engine then reads the gateway
from chain again and, once the new certificate is published there, pins it and goes back
online by itself. A certificate the chain does not name is refused for good, with a status
that says so: the node never falls back to unpinned TLS. A gateway that moves to another
address (same certificate) and publishes it is followed there: after a few failed attempts in a
row the engine reads the chain again.

Everything is real: the in-process chain with the real contracts, the reference gateway over
wss on loopback, restarted on the same port, and the engine with a keystore wallet.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devnet.chain.provider import publish_gateway
from devnet.gateway.server import GatewayServer
from devnet.gateway.tls import Certificate, self_signed_certificate
from fizz_app.core.chain import AsyncChainClient
from fizz_app.core.node import Node
from fizz_app.core.node_online import CERTIFICATE_MISMATCH
from fizz_app.core.state import NodeStatus
from tests.devnet.gateway_env import Chain, free_port_range
from tests.local_network import CONFIG, registered_node_parts, thread_safe_chain, until

MISMATCH = " ".join(CERTIFICATE_MISMATCH)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    return thread_safe_chain(tmp_path_factory.mktemp("chain"))


async def publish(chain: Chain, url: str, certificate: Certificate) -> None:
    """What a gateway does after starting: its address and certificate, on chain."""
    await asyncio.to_thread(
        publish_gateway,
        chain.w3,
        chain.deployment,
        host_uri=url,
        certificate=certificate.cert_pem,
    )


async def start_gateway(
    chain: Chain, folder: Path, certificate: Certificate, port: int = 0
) -> GatewayServer:
    server = GatewayServer(
        AsyncChainClient(chain.client),
        chain.gateway_id,
        port=port,
        public_ports=free_port_range(),
        certificate=certificate,
        config=CONFIG,
        state_path=folder / "gateway-state.json",
        api_port=None,
    )
    await server.start()
    return server


def connected(node: Node) -> bool:
    gateway = node.snapshot().gateway
    return bool(gateway and gateway["connected"])


def refused_as_unpublished(node: Node) -> bool:
    snapshot = node.snapshot()
    return snapshot.status is NodeStatus.ERROR and snapshot.status_reason == MISMATCH


@dataclass
class GatewayGone:
    """A node that was online through the ``first`` gateway, which has just stopped."""

    chain: Chain
    folder: Path
    node: Node
    first: GatewayServer
    started: list[GatewayServer]

    async def start(self, certificate: Certificate, port: int = 0) -> GatewayServer:
        """Another gateway of the same provider (stopped when the test ends)."""
        server = await start_gateway(self.chain, self.folder, certificate, port)
        self.started.append(server)
        return server


@contextlib.asynccontextmanager
async def gateway_gone(
    chain: Chain, tmp_path: Path, certificate: Certificate
) -> AsyncIterator[GatewayGone]:
    """A node online through a gateway with ``certificate`` (published on chain), then that
    gateway stopped and the node disconnected: what comes back is up to the test."""
    first = await start_gateway(chain, tmp_path, certificate)
    await publish(chain, first.url, certificate)
    _, kwargs = registered_node_parts(chain, tmp_path / "node")
    started = [first]
    try:
        async with Node(**kwargs) as node:
            await node.start()
            await until(lambda: node.snapshot().status is NodeStatus.ONLINE, what="online")
            await first.stop()
            await until(lambda: not connected(node), what="the gateway gone")
            yield GatewayGone(chain, tmp_path, node, first, started)
    finally:
        for gateway in started:
            await gateway.stop()


async def test_a_renewed_certificate_published_on_chain_is_pinned_and_an_impostor_is_not(
    chain: Chain, tmp_path: Path
) -> None:
    async with gateway_gone(chain, tmp_path, self_signed_certificate("127.0.0.1")) as gone:
        node, port = gone.node, gone.first.port
        # It comes back on the same port with a renewed certificate, and publishes that
        # only once started (as `fizz-node devnet gateway` does): until then the chain
        # still names the old one, and the node refuses the new one.
        renewed_certificate = self_signed_certificate("127.0.0.1")
        renewed = await gone.start(renewed_certificate, port)
        await until(lambda: refused_as_unpublished(node), what="refused while unpublished")
        assert not connected(node) and renewed.status()["gateway"]["sessions"] == 0

        await publish(chain, renewed.url, renewed_certificate)
        await until(lambda: node.snapshot().status is NodeStatus.ONLINE, what="back online")
        assert renewed.status()["gateway"]["sessions"] == 1
        assert (node.snapshot().gateway or {})["url"] == renewed.url

        # An impostor takes the port with a certificate of its own, published nowhere.
        await renewed.stop()
        impostor = await gone.start(self_signed_certificate("127.0.0.1"), port)
        await until(lambda: refused_as_unpublished(node), what="the impostor refused")
        # It stays refused, however many times the node tries again meanwhile.
        for _ in range(20):
            await asyncio.sleep(0.1)
            assert refused_as_unpublished(node) and not connected(node)
        assert impostor.status()["gateway"]["sessions"] == 0
        assert "intercepting" in node.snapshot().why_no_jobs


async def test_a_gateway_that_moves_and_publishes_its_new_address_is_followed(
    chain: Chain, tmp_path: Path
) -> None:
    certificate = self_signed_certificate("127.0.0.1")
    async with gateway_gone(chain, tmp_path, certificate) as gone:
        node = gone.node
        # Same certificate, another port: nothing fails TLS, the old address just stops
        # answering. The move is published once the new gateway runs.
        moved = await gone.start(certificate)
        assert moved.url != gone.first.url
        await publish(chain, moved.url, certificate)
        await until(
            lambda: connected(node) and (node.snapshot().gateway or {})["url"] == moved.url,
            what="connected at the new address",
        )
        assert moved.status()["gateway"]["sessions"] == 1
        assert node.snapshot().status is NodeStatus.ONLINE
