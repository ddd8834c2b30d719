"""The speed test through the reference gateway (PROTOCOL.md §14), end to end: a node
registered on the in-process chain logs in over a real WebSocket, the gateway moves the test
bytes through the tunnel, and the node's system check then shows the measured figures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from devnet.gateway.server import GatewayServer
from fizz_app.core.bandwidth import load_measurement, save_measurement, with_measurement
from fizz_app.core.chain import AsyncChainClient
from fizz_app.core.checks import CheckStatus
from fizz_app.core.hardware import probe_hardware
from fizz_app.core.offer import capacity_report, offer_from_report
from fizz_app.core.requirements import check_bandwidth, load_profile
from fizz_app.core.tunnel import BandwidthTestFailed, GatewayLink
from fizz_app.core.wallet import UnlockedWallet
from gateway_client.backoff import ReconnectPolicy
from gateway_client.messages import ErrorNotice, SpeedtestRequest, SpeedtestResult
from gateway_client.protocol import ControlReceived, TunnelConfig
from gateway_client.speedtest import (
    NOTICE_SPEEDTEST_BUSY,
    NOTICE_SPEEDTEST_FAILED,
    NOTICE_SPEEDTEST_TOO_LARGE,
)

from .gateway_env import Chain, free_port_range, running_node, status_of, wait_for

CONFIG = TunnelConfig(heartbeat_interval=0.2, heartbeat_timeout=5.0)
BUCKETS = {"10mbps", "50mbps", "100mbps", "200mbps", "300mbps", "400mbps", "500mbps", "1gbps",
           "5gbps", "10gbps"}  # fmt: skip
MIB = 1024 * 1024


pytestmark = pytest.mark.usefixtures("one_chain_thread")


@pytest.fixture(scope="module")
def chain(gateway_chain: Chain) -> Chain:
    return gateway_chain


@pytest.fixture
async def gateway(chain: Chain, tmp_path: Path) -> AsyncIterator[GatewayServer]:
    server = make_gateway(chain)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def make_gateway(chain: Chain, **kwargs: Any) -> GatewayServer:
    options: dict[str, Any] = {"public_ports": free_port_range(), "config": CONFIG}
    options.update(kwargs)
    return GatewayServer(AsyncChainClient(chain.client), chain.gateway_id, **options)


def link_for(gateway: GatewayServer, chain: Chain, home: Path) -> GatewayLink:
    report = probe_hardware(home)
    capacity = capacity_report(
        offer_from_report(report), report, client_version="0.1.0", protocol_version="1"
    )
    return GatewayLink(
        chain.gateway_id,
        gateway.url,
        "",
        signer=UnlockedWallet(chain.register()),
        capacity=lambda: capacity,
        policy=ReconnectPolicy(initial=0.05, maximum=0.2),
    )


async def test_node_measures_through_the_gateway_and_the_check_shows_it(
    chain: Chain, gateway: GatewayServer, tmp_path: Path
) -> None:
    link = link_for(gateway, chain, tmp_path)
    task = asyncio.create_task(link.run())
    try:
        await wait_for(lambda: link.state.connected)
        info = await link.measure_bandwidth(nbytes=4 * MIB)
        assert info.measured and info.measured_at is not None
        assert info.download_mbps is not None and info.download_mbps > 0
        assert info.upload_mbps is not None and info.upload_mbps > 0
        assert info.bucket in BUCKETS
        print(f"\nloopback: {info.download_mbps} Mbit/s down, {info.upload_mbps} up, {info.bucket}")
        # The gateway lists what it measured for the node.
        (entry,) = (await status_of(gateway.port))["cluster"]["inventory"]["available"]["nodes"]
        assert entry["speedtest"]["bucket"] == info.bucket
        assert entry["speedtest"]["down_mbps"] == pytest.approx(info.download_mbps, abs=0.1)
    finally:
        link.stop()
        await asyncio.wait_for(task, 10)

    # What `fizz-node check` does: the saved measurement replaces "not measured".
    assert not load_measurement(tmp_path).measured
    before = check_bandwidth(probe_hardware(tmp_path).bandwidth, load_profile("devnet"))
    assert before.status is CheckStatus.WARN and "Not measured" in before.detail
    save_measurement(tmp_path, info)
    report = with_measurement(probe_hardware(tmp_path), tmp_path)
    assert report.bandwidth == info
    check = check_bandwidth(report.bandwidth, load_profile("devnet"))
    assert check.status is CheckStatus.PASS, check
    assert f"Mbit/s down, {info.upload_mbps:g} Mbit/s up ({info.bucket})" in check.detail


async def test_refusals_and_failures_are_answered_and_the_session_carries_on(
    chain: Chain, tmp_path: Path
) -> None:
    gateway = make_gateway(chain, speedtest_max_bytes=MIB)
    await gateway.start()
    try:
        link = link_for(gateway, chain, tmp_path)
        task = asyncio.create_task(link.run())
        await wait_for(lambda: link.state.connected)
        with pytest.raises(BandwidthTestFailed, match=f"at most {MIB}"):
            await link.measure_bandwidth(nbytes=2 * MIB)
        gateway.speedtest_timeout = 0.0  # gives up before the node can even accept the stream
        with pytest.raises(BandwidthTestFailed, match="too slow|did not finish"):
            await link.measure_bandwidth(nbytes=MIB)
        gateway.speedtest_timeout = 60.0
        info = await link.measure_bandwidth(nbytes=MIB)  # the same session still works
        assert info.measured and info.bucket in BUCKETS
        assert link.state.connected
        link.stop()
        await asyncio.wait_for(task, 10)

        account = chain.register()
        async with running_node(gateway.url, account) as node:
            await wait_for(lambda: node.client.connection is not None)

            def answers() -> list[object]:
                return [
                    e.message.code if isinstance(e.message, ErrorNotice) else e.message
                    for e in node.of(ControlReceived)
                ]

            # Two requests at once: one test runs, the second is told the gateway is busy.
            for _ in range(2):
                node.client.send_control(SpeedtestRequest(direction="down", nbytes=MIB))
            await wait_for(lambda: any(isinstance(a, SpeedtestResult) for a in answers()))
            assert NOTICE_SPEEDTEST_BUSY in answers()
            (result,) = [a for a in answers() if isinstance(a, SpeedtestResult)]
            assert result.direction == "down" and result.nbytes == MIB
            assert result.up_mbps == 0.0 and result.bucket == "NA"  # up not measured yet
            node.client.send_control(SpeedtestRequest(direction="up", nbytes=MIB + 1))
            await wait_for(lambda: NOTICE_SPEEDTEST_TOO_LARGE in answers())
            assert NOTICE_SPEEDTEST_FAILED not in answers()
            assert node.client.connection is not None and node.closes == []
    finally:
        await gateway.stop()
