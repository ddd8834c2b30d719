"""The chain's RPC endpoint stops answering while the node is online: the snapshot and one
``ChainChanged`` event say so, checks are retried sooner than usual, the node goes on serving,
and once the endpoint answers again the ledger books what the chain gathered meanwhile.

Everything is real: the in-process chain served over HTTP JSON-RPC, a TCP proxy in front of it
that refuses connections or accepts them and never answers, the reference gateway on its own
thread, the engine with a keystore wallet. Pure parts (addresses without secrets, the retry
schedule, the detached call) are tested on their own first.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from devnet.chain.tx import send
from fizz_app.core.chain_health import ChainHealth, call_detached, public_url, scrub
from fizz_app.core.events import ChainChanged, Event, Subscription
from fizz_app.core.node import Node
from fizz_app.core.state import NodeStatus
from tests.devnet.gateway_env import Chain
from tests.local_network import (
    RPC_PASSWORD,
    RPC_PATH_KEY,
    RPC_QUERY_KEY,
    BackgroundGateway,
    ProxyMode,
    SwitchableProxy,
    proxied_chain,
    registered_node_parts,
    until,
)

SPON = 10**18
PASSWORD, PATH_KEY, QUERY_KEY = RPC_PASSWORD, RPC_PATH_KEY, RPC_QUERY_KEY
SECRETS = (PASSWORD, PATH_KEY, QUERY_KEY)
CHAIN_EVERY = 0.5
"""Seconds between checks while leases run; none runs here, so checks come every 2.5 s."""
INTERVAL = CHAIN_EVERY * 5
FIRST_RETRY = 0.1


# ---- Addresses without secrets ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
        ("https://sepolia.base.org", "https://sepolia.base.org"),
        ("https://user:pw@rpc.example.com:8443/rpc", "https://rpc.example.com:8443/rpc"),
        (
            "https://base-mainnet.g.alchemy.com/v2/Abc123Def456Ghi789Jkl012Mno345Pq",
            "https://base-mainnet.g.alchemy.com/v2/***",
        ),
        ("https://mainnet.infura.io/v3/0f1e2d3c4b5a69788796a5b4c3d2e1f0", "https://mainnet.infura.io/v3/***"),
        ("https://x.quiknode.pro/a1b2c3d4e5/", "https://x.quiknode.pro/***/"),
        ("https://rpc.example.com/base?apikey=K&chain=8453", "https://rpc.example.com/base?apikey=***&chain=***"),
        ("http://[::1]:8545", "http://[::1]:8545"),
        ("not a url", "the RPC endpoint"),
        ("http://host:notaport/", "the RPC endpoint"),
    ],
)  # fmt: skip
def test_public_url_keeps_the_host_and_masks_credentials_and_keys(url: str, shown: str) -> None:
    assert public_url(url) == shown


def test_scrub_masks_the_address_and_its_secrets_wherever_they_appear() -> None:
    url = f"https://ada:{PASSWORD}@rpc.example.com/v2/{PATH_KEY}?key={QUERY_KEY}"
    text = f"Cannot reach {url}. (GET /v2/{PATH_KEY}?key={QUERY_KEY} failed for ada:{PASSWORD})"
    clean = scrub(text, url)
    assert not any(secret in clean for secret in SECRETS), clean
    assert clean.startswith("Cannot reach https://rpc.example.com/v2/***?key=***.")
    assert scrub("nothing to hide", "") == "nothing to hide"


# ---- The retry schedule -------------------------------------------------------------------------


def test_failures_retry_sooner_doubling_up_to_the_interval_and_success_resets() -> None:
    health = ChainHealth("http://127.0.0.1:8545", first_retry=5.0)
    assert health.to_dict() is None  # no check has ended yet
    assert health.succeeded(100.0, 100.5, 60.0) == 60.0
    assert health.state() == (True, None)
    delays = [health.failed(200.0 + n, 201.0 + n, "Cannot reach it.", 60.0) for n in range(6)]
    assert delays == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0]
    chain = health.to_dict()
    assert chain == {
        "reachable": False,
        "checked_at": 205.0,
        "unreachable_since": 200.0,  # the first failed check, not the latest
        "error": "Cannot reach it.",
        "rpc": "http://127.0.0.1:8545",
        "next_check_at": 266.0,
    }
    assert health.succeeded(300.0, 300.25, 300.0) == 300.0  # no lease runs: the slow cadence
    assert health.to_dict() == {
        "reachable": True,
        "checked_at": 300.0,
        "unreachable_since": None,
        "error": None,
        "rpc": "http://127.0.0.1:8545",
        "next_check_at": 600.25,
    }
    assert health.failed(400.0, 401.0, "Cannot reach it.", 60.0) == 5.0  # from the start again


def test_a_short_interval_caps_even_the_first_retry() -> None:
    health = ChainHealth("http://127.0.0.1:8545")
    assert health.failed(0.0, 1.0, "Cannot reach it.", 2.0) == 2.0


# ---- A call nobody has to wait for --------------------------------------------------------------


async def test_call_detached_returns_the_result_and_raises_the_error() -> None:
    assert await call_detached(lambda: 6 * 7, "test") == 42
    with pytest.raises(ValueError, match="bad"):
        await call_detached(lambda: int("bad"), "test")


async def test_cancelling_a_detached_call_returns_at_once_while_it_still_blocks() -> None:
    release = threading.Event()
    finished = threading.Event()

    def blocking() -> str:
        release.wait(30)
        finished.set()
        return "late"

    task = asyncio.create_task(call_detached(blocking, "test-blocking"))
    await asyncio.sleep(0.05)
    began = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - began < 1.0
    assert not finished.is_set()
    thread = next(t for t in threading.enumerate() if t.name == "test-blocking")
    assert thread.daemon  # the interpreter's exit does not wait for it either
    release.set()
    await asyncio.to_thread(finished.wait, 5)  # its late result goes nowhere, quietly


# ---- The engine against an RPC endpoint that stops answering ------------------------------------


@pytest.fixture
def gateway(chain: Chain, tmp_path: Path) -> Iterator[BackgroundGateway]:
    with BackgroundGateway(chain, tmp_path) as running:
        yield running


def make_node(
    chain: Chain, home: Path, proxy: SwitchableProxy, *, rpc_timeout: float
) -> tuple[str, Node]:
    address, kwargs = registered_node_parts(chain, home)
    kwargs.update(
        chain=proxied_chain(chain, home, proxy.url, rpc_timeout=rpc_timeout),
        chain_every=CHAIN_EVERY,
        chain_retry=FIRST_RETRY,
    )
    return address, Node(**kwargs)


def chain_of(node: Node) -> dict[str, Any]:
    return node.snapshot().chain or {}


async def checks_within(node: Node, seconds: float) -> int:
    """How many chain checks began in the next ``seconds``."""
    seen: set[float] = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen.add(chain_of(node).get("checked_at") or 0.0)
        await asyncio.sleep(0.01)
    return len(seen)


@pytest.fixture
async def online(
    chain: Chain, tmp_path: Path, gateway: BackgroundGateway, proxy: SwitchableProxy
) -> AsyncIterator[tuple[str, Node, Subscription]]:
    address, node = make_node(chain, tmp_path / "node", proxy, rpc_timeout=1.0)
    async with node, node.subscribe() as events:
        await node.start()
        await until(lambda: node.snapshot().status is NodeStatus.ONLINE, what="online")
        await until(lambda: chain_of(node).get("reachable") is True, what="a first check")
        yield address, node, events


def chain_events(events: list[Event]) -> list[dict[str, Any] | None]:
    return [event.chain for event in events if isinstance(event, ChainChanged)]


async def test_an_unreachable_chain_is_reported_retried_and_reconciled_when_back(
    online: tuple[str, Node, Subscription],
    chain: Chain,
    proxy: SwitchableProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="fizz_app")
    address, node, events = online
    shown = f"http://127.0.0.1:{proxy.port}/v2/***?apikey=***"
    assert chain_of(node)["rpc"] == shown

    proxy.switch(ProxyMode.REFUSE)
    await until(lambda: chain_of(node).get("reachable") is False, what="unreachable")
    down = chain_of(node)
    assert down["error"].startswith(f"Cannot reach the Local devnet network at {shown}.")
    assert "RPC address" in down["error"]  # the remedy comes with it
    assert down["unreachable_since"] == down["checked_at"]
    assert down["next_check_at"] - down["checked_at"] < INTERVAL
    # Retried sooner than the usual cadence (one check per 2.5 s here): 0.1 s, 0.2 s, 0.4 s...
    assert await checks_within(node, INTERVAL - 0.1) >= 3
    assert chain_of(node)["unreachable_since"] == down["unreachable_since"]
    # The tunnel needs no chain: the node stays online and keeps taking leases.
    assert node.snapshot().status is NodeStatus.ONLINE

    # The host now accepts connections and never answers: the reason changes.
    proxy.switch(ProxyMode.HANG)
    await until(
        lambda: "did not answer within 1 s" in (chain_of(node).get("error") or ""), what="hung"
    )
    assert chain_of(node)["unreachable_since"] == down["unreachable_since"]

    # Meanwhile the chain goes on: era rewards are added for the node.
    manager = chain.deployment.contract(chain.w3, "FizzRewardsManager")
    call = manager.functions.addFizzPendingRewards([address], [7 * SPON])
    await asyncio.to_thread(send, chain.w3, call, chain.deployment.admin)
    assert (node.snapshot().earnings or {}).get("rewards", {}).get("pending", {}).get("raw") == "0"

    proxy.switch(ProxyMode.FORWARD)
    await until(lambda: chain_of(node).get("reachable") is True, what="reachable again")
    # The check that found the chain back booked the rewards before saying so.
    earnings = node.snapshot().earnings or {}
    assert earnings["rewards"]["pending"]["raw"] == str(7 * SPON)
    assert earnings["lifetime"]["SPON"]["rewards"] == str(7 * SPON)
    assert chain_of(node)["error"] is None and chain_of(node)["unreachable_since"] is None

    published = chain_events(events.drain())
    # The first check, the outage and its change of reason, the return: not every check.
    assert [(c or {}).get("reachable") for c in published] == [True, False, False, True]
    assert published[1] is not None and published[1]["error"].startswith("Cannot reach")
    assert published[2] is not None and "did not answer within 1 s" in published[2]["error"]
    text = json.dumps([node.snapshot().to_dict(), published])
    text += "\n".join(record.getMessage() for record in caplog.records)
    assert not any(secret in text for secret in SECRETS)


async def test_a_hung_chain_call_blocks_neither_intents_nor_going_offline(
    chain: Chain, tmp_path: Path, gateway: BackgroundGateway, proxy: SwitchableProxy
) -> None:
    _, node = make_node(chain, tmp_path / "node", proxy, rpc_timeout=60.0)
    async with node:
        await node.start()
        await until(lambda: node.snapshot().status is NodeStatus.ONLINE, what="online")
        await until(lambda: chain_of(node).get("reachable") is True, what="a first check")
        proxy.switch(ProxyMode.HANG)
        await until(lambda: proxy.held() >= 1, timeout=INTERVAL * 4, what="a check in flight")

        began = time.monotonic()
        await asyncio.wait_for(node.pause(), 5)
        await until(lambda: node.snapshot().status is NodeStatus.PAUSED, timeout=5, what="pause")
        await asyncio.wait_for(node.resume(), 5)
        await until(lambda: node.snapshot().status is NodeStatus.ONLINE, timeout=5, what="resume")
        assert time.monotonic() - began < 5
        assert chain_of(node)["reachable"] is True  # the hung check has not ended yet
        leaving = time.monotonic()
    # Offline and shut down while the call still waits for its 60-second timeout.
    assert time.monotonic() - leaving < 15
    assert proxy.held() >= 1
    assert node.snapshot().chain is None
    # What asyncio.run() does once the engine's coroutine ends (the app quits): wait for the
    # threads of the default executor. The hung call must not be on one of them.
    await asyncio.wait_for(asyncio.get_running_loop().shutdown_default_executor(), 10)
