"""The node's gateway link: addresses, the capacity report, and real sessions (plain and with
a pinned certificate) against a loopback gateway."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from eth_account import Account

from devnet.gateway.tls import self_signed_certificate
from fizz_app.core.errors import UserFacingError
from fizz_app.core.hardware import probe_hardware
from fizz_app.core.offer import capacity_report, offer_from_report
from fizz_app.core.pinning import PinningError
from fizz_app.core.tunnel import (
    BandwidthTestFailed,
    GatewayLink,
    capacity_message,
    gateway_url,
)
from fizz_app.core.wallet import UnlockedWallet
from gateway_client.backoff import ReconnectPolicy
from gateway_client.client import Connection
from gateway_client.messages import Capacity, ErrorNotice, SpeedtestRequest, encode_message
from gateway_client.protocol import ControlReceived, Event
from tests.gateway_client.test_client import LoopbackGateway, wait_for


@pytest.mark.parametrize(
    ("published", "url"),
    [
        ("gw.example.org", "wss://gw.example.org:8544"),
        ("wss://gw.example.org:9000", "wss://gw.example.org:9000"),
        ("ws://127.0.0.1:8544", "ws://127.0.0.1:8544"),
        ("ws://localhost:1234/", "ws://localhost:1234/"),
    ],
)
def test_gateway_url(published: str, url: str) -> None:
    assert gateway_url(published) == url


@pytest.mark.parametrize("published", ["ws://gw.example.org:8544", "https://gw.example.org", ""])
def test_unusable_or_unencrypted_gateway_addresses_are_refused(published: str) -> None:
    with pytest.raises(UserFacingError):
        gateway_url(published)


def test_capacity_message_of_this_machine(tmp_path: Path) -> None:
    report = probe_hardware(tmp_path)
    capacity = capacity_report(
        offer_from_report(report), report, client_version="0.1.0", protocol_version="1"
    )
    message = capacity_message(capacity)
    assert isinstance(message, Capacity)
    assert message.bandwidth == "NA;NA"
    assert message.allocatable.cpu == capacity["allocatable"]["cpu"]
    encode_message(message)  # valid against the protocol's schema


def _capacity(tmp_path: Path) -> dict[str, object]:
    report = probe_hardware(tmp_path)
    return capacity_report(
        offer_from_report(report), report, client_version="0.1.0", protocol_version="1"
    )


def _link(port: int, scheme: str, certificate: str, tmp_path: Path) -> GatewayLink:
    capacity = _capacity(tmp_path)
    return GatewayLink(
        1,
        f"{scheme}://127.0.0.1:{port}",
        certificate,
        signer=UnlockedWallet(Account.create()),
        capacity=lambda: capacity,  # type: ignore[arg-type, return-value]
        policy=ReconnectPolicy(initial=0.05, maximum=0.2),
    )


async def test_link_logs_in_and_reports_capacity(tmp_path: Path) -> None:
    gateway = LoopbackGateway()
    port = await gateway.start()
    link = _link(port, "ws", "", tmp_path)
    task = asyncio.create_task(link.run())
    await wait_for(lambda: any(isinstance(m, Capacity) for m in gateway.received))
    assert link.state.connected and link.state.fizz_id == 7
    link.stop()
    await asyncio.wait_for(task, 10)
    await gateway.stop()


async def test_link_pins_the_published_certificate(tmp_path: Path) -> None:
    certificate = self_signed_certificate()
    gateway = LoopbackGateway()
    port = await gateway.start(ssl_context=certificate.server_context())
    pinned = _link(port, "wss", certificate.cert_pem, tmp_path)
    task = asyncio.create_task(pinned.run())
    await wait_for(lambda: pinned.state.connected)
    assert not pinned.state.certificate_rejected
    pinned.stop()
    await asyncio.wait_for(task, 10)

    impostor = _link(port, "wss", self_signed_certificate().cert_pem, tmp_path)
    task = asyncio.create_task(impostor.run())
    # The engine waits for this to look for a certificate published since (a renewal).
    await asyncio.wait_for(impostor.certificate_rejected(), 10)
    await wait_for(lambda: impostor.state.attempts >= 3)
    assert not impostor.state.connected and len(gateway.logins) == 1
    assert impostor.state.certificate_rejected
    impostor.stop()
    await asyncio.wait_for(task, 10)
    await gateway.stop()


def test_wss_without_a_published_certificate_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PinningError, match="has not published"):
        _link(8544, "wss", "", tmp_path)


class OldGateway(LoopbackGateway):
    """A v1 gateway from before speed tests: it answers every request with notice 501."""

    async def on_event(self, connection: Connection, event: Event) -> None:
        await super().on_event(connection, event)
        if isinstance(event, ControlReceived) and isinstance(event.message, SpeedtestRequest):
            connection.send_control(ErrorNotice(code=501, message="speed test not implemented"))


async def test_bandwidth_from_a_gateway_without_speed_tests_is_a_clear_error(
    tmp_path: Path,
) -> None:
    gateway = OldGateway()
    port = await gateway.start()
    link = _link(port, "ws", "", tmp_path)
    with pytest.raises(BandwidthTestFailed, match="Not connected"):
        await link.measure_bandwidth()
    task = asyncio.create_task(link.run())
    await wait_for(lambda: link.state.connected)
    with pytest.raises(BandwidthTestFailed, match="ran no speed test: speed test not impl"):
        await link.measure_bandwidth(nbytes=1000, timeout=10)
    assert link.state.connected
    link.stop()
    await asyncio.wait_for(task, 10)
    await gateway.stop()
