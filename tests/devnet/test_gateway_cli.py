"""``fizz-node devnet gateway`` as a developer runs it, against anvil over HTTP RPC: it
publishes its address and certificate on chain, and a node that reads them from the chain and
pins the certificate logs in."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from devnet.chain.anvil import AnvilProcess
from devnet.chain.deploy import Deployment, deploy_all
from fizz_app.core.chain import ChainClient
from fizz_app.core.networks import load_network
from fizz_app.core.pinning import pinned_client_context
from gateway_client.exceptions import CloseCode

from .gateway_env import Chain, free_port_range, running_node, wait_for

SCRIPT = Path(sys.executable).with_name("fizz-node")


@pytest.fixture(scope="module")
def anvil_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    with AnvilProcess() as anvil:
        w3 = anvil.web3()
        deployment = deploy_all(w3, w3.eth.accounts[0])
        deployment = Deployment(**{**deployment.__dict__, "rpc_url": anvil.rpc_url})
        yield Chain(w3, deployment, tmp_path_factory.mktemp("fizz-home"))


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "FIZZ_HOME": str(home)}


def test_a_bad_port_range_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(SCRIPT), "devnet", "gateway", "--public-ports", "20100-20000"],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=60,
    )
    assert result.returncode == 2
    assert "not a port range" in result.stderr


def test_a_wildcard_host_needs_a_public_host(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(SCRIPT), "devnet", "gateway", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=60,
    )
    assert result.returncode == 2
    assert "listens on every address" in result.stderr and "--public-host" in result.stderr


async def test_gateway_publishes_itself_and_serves_pinned_nodes(anvil_chain: Chain) -> None:
    public = free_port_range(4)
    port, api_port = free_port_range(2)
    # Listening everywhere, published at the loopback address nodes here dial.
    args = ["devnet", "gateway", "--host", "0.0.0.0", "--public-host", "127.0.0.1"]
    args += ["--port", str(port), "--api-port", str(api_port), "--public-ports"]
    args.append(f"{public.start}-{public.stop - 1}")
    process = await asyncio.create_subprocess_exec(
        str(SCRIPT),
        *args,
        env=_env(anvil_chain.home),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    assert process.stdout is not None
    try:
        banner = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        assert f"serving nodes at wss://127.0.0.1:{port}" in banner, banner
        # What a node does: read the gateway from the chain, pin its certificate, log in.
        network = load_network("devnet", anvil_chain.home)
        reader = ChainClient(network, anvil_chain.home)
        published = reader.gateway(anvil_chain.gateway_id)
        assert published.host_uri == f"wss://127.0.0.1:{port}"
        assert "BEGIN CERTIFICATE" in published.certificate
        context = pinned_client_context(published.certificate)
        url = f"https://127.0.0.1:{port}/status"
        status = await asyncio.to_thread(_get_json, url, context)
        assert status["gateway"] == {
            "id": anvil_chain.gateway_id,
            "host": "127.0.0.1",
            "sessions": 0,
            "version": "0.1.0",
        }
        # The tenant API answers HTTPS with the same pinned certificate.
        api_status = await asyncio.to_thread(
            _get_json, f"https://127.0.0.1:{api_port}/status", context
        )
        assert api_status["gateway"] == status["gateway"]
        account = anvil_chain.register()
        async with running_node(published.host_uri, account, ssl_context=context) as node:
            await wait_for(lambda: node.client.connection is not None, timeout=20)
            status = await asyncio.to_thread(_get_json, url, context)
            (entry,) = status["cluster"]["inventory"]["available"]["nodes"]
            assert entry["name"] == account.address.lower()[2:]
            process.send_signal(signal.SIGINT)
            await wait_for(lambda: node.closes, timeout=20)
            assert node.closes[0].code == CloseCode.GATEWAY_SHUTDOWN
        rest = (await asyncio.wait_for(process.stdout.read(), 30)).decode()
        assert await asyncio.wait_for(process.wait(), 30) == 0, rest
        assert "Gateway stopped." in rest
    finally:
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()


def _get_json(url: str, context: ssl.SSLContext) -> dict[str, object]:
    with urllib.request.urlopen(url, context=context, timeout=10) as response:
        data: dict[str, object] = json.loads(response.read())
        return data
