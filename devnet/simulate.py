"""Simulated nodes: many lightweight protocol clients for load tests and benchmarks.

Each simulated node is a real wallet registered on chain (``addFizzNode``, signed by its own
deterministic key, :func:`devnet.chain.accounts.devnet_account`) and a real
:class:`~gateway_client.client.NodeClient` that logs in, reports its capacity and heart-beats;
it announces no prices, so the gateway's bidding agent never offers it a lease. They all run in
one separate process (:func:`nodes_main`) so they cost the gateway what real nodes would and the
measuring process nothing.

Used by ``benchmarks/gateway_load.py`` and the 2,000-node test in ``tests/e2e``.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing.synchronize
import time
from typing import Any, cast

from web3 import Web3

from devnet.chain.accounts import devnet_account
from devnet.chain.deploy import Deployment

__all__ = ["SPEC", "nodes_main", "register_wallets"]

SPEC = "linux,cpu,2,16,100,none,0,us-east,NA,x86_64,0.1.0"
"""The registered spec of every simulated node."""


def _label(index: int) -> str:
    return f"gateway-load-{index}"


# ---- Chain ---------------------------------------------------------------------------------------


def register_wallets(w3: Web3, deployment: Deployment, count: int) -> float:
    """Register ``count`` deterministic wallets as nodes of the devnet gateway on anvil;
    return the seconds it took.

    Each wallet gets its ether from ``anvil_setBalance`` (no transaction) and signs its own
    ``addFizzNode``. Done one call at a time this takes minutes for 2,000 (two RPC round trips
    through web3 and a block each), so the calls go in JSON-RPC batches, automining is paused
    while the transactions are sent, and full blocks are mined with ``evm_mine`` (other
    senders' transactions wait those few seconds, then are mined with them).

    Raises:
        RuntimeError: anvil refused a call, or a registration reverted or was not mined.
    """
    started = time.perf_counter()
    rpc = _Batch(str(cast(Any, w3.provider).endpoint_uri))
    registry = deployment.contract(w3, "FizzRegistry")
    uspon = deployment.address("USPON")
    chain_id = w3.eth.chain_id
    gas_price = w3.eth.gas_price * 2
    accounts = [devnet_account(_label(index)) for index in range(count)]
    rpc.call([("anvil_setBalance", [a.address, hex(10**18)]) for a in accounts])
    probe = accounts[0].address
    sample = (deployment.gateway_provider_id, SPEC, probe, [uspon], probe)
    gas = int(registry.functions.addFizzNode(sample).estimate_gas({"from": probe}))
    sends = []
    for account in accounts:
        params = (deployment.gateway_provider_id, SPEC, account.address, [uspon], account.address)
        tx = {
            "to": registry.address,
            "data": registry.encode_abi("addFizzNode", args=[params]),
            "gas": gas * 3 // 2,
            "gasPrice": gas_price,
            "nonce": 0,
            "chainId": chain_id,
            "value": 0,
        }
        raw = account.sign_transaction(tx).raw_transaction
        sends.append(("eth_sendRawTransaction", ["0x" + bytes(raw).hex()]))
    rpc.call([("evm_setAutomine", [False])])
    try:
        hashes = [str(tx_hash) for tx_hash in rpc.call(sends)]
        receipts = _mine_until_included(rpc, hashes)
    finally:
        rpc.call([("evm_setAutomine", [True])])
    if any(int(receipt["status"], 16) != 1 for receipt in receipts):
        raise RuntimeError("a registration reverted")
    return time.perf_counter() - started


class _Batch:
    """JSON-RPC batches to one endpoint: one HTTP request for many calls."""

    def __init__(self, url: str, size: int = 500) -> None:
        self.url = url
        self.size = size

    def call(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """The results of ``calls`` in order.

        Raises:
            RuntimeError: a call failed (its error is in the message).
        """
        import json
        import urllib.request

        results: list[Any] = []
        for start in range(0, len(calls), self.size):
            chunk = calls[start : start + self.size]
            body = [
                {"jsonrpc": "2.0", "id": index, "method": method, "params": params}
                for index, (method, params) in enumerate(chunk)
            ]
            request = urllib.request.Request(
                self.url, json.dumps(body).encode(), {"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=120) as response:
                answers = sorted(json.loads(response.read()), key=lambda answer: answer["id"])
            for answer in answers:
                if "error" in answer:
                    raise RuntimeError(f"{chunk[answer['id']][0]} failed: {answer['error']}")
                results.append(answer["result"])
        return results


def _mine_until_included(rpc: _Batch, hashes: list[str]) -> list[dict[str, Any]]:
    """Mine full blocks until every one of ``hashes`` is in one (at most one block each);
    their receipts."""
    for _ in range(len(hashes)):
        rpc.call([("evm_mine", [])])
        receipts = rpc.call([("eth_getTransactionReceipt", [tx_hash]) for tx_hash in hashes])
        if all(receipts):
            return list(receipts)
    raise RuntimeError("the registrations were not mined")


# ---- The node process ----------------------------------------------------------------------------


def nodes_main(
    url: str,
    count: int,
    rate: float,
    cert_pem: str | None,
    window: Any,
    stop: multiprocessing.synchronize.Event,
    results: Any,
) -> None:
    """Entry point of the nodes' process: run ``count`` simulated nodes, connecting ``rate``
    a second, until ``stop`` is set; then put a summary in ``results`` (welcomes, closes and
    their codes, fatal refusals, reconnect attempts, heartbeat round trips).

    ``url`` is the gateway's node address and ``cert_pem`` its certificate to pin (``None``
    for ``ws://``). ``window`` holds the start and end of the measured period
    (``time.monotonic``, one clock for every process on Linux; an end of 0 means "until
    stopped"), set by the main process: the round-trip percentiles are of that period."""
    logging.basicConfig(level=logging.ERROR)
    results.put(asyncio.run(_run_nodes(url, count, rate, cert_pem, window, stop)))


async def _run_nodes(
    url: str, count: int, rate: float, cert_pem: str | None, window: Any, stop: Any
) -> dict[str, Any]:
    from eth_account.messages import encode_defunct

    from fizz_app.core.pinning import pinned_client_context
    from gateway_client.backoff import ReconnectPolicy
    from gateway_client.client import Connection, FatalSessionError, NodeClient
    from gateway_client.messages import Capacity, ClientInfo, Resources
    from gateway_client.protocol import Event, HeartbeatAcked, SessionClosing, Welcomed

    capacity = Capacity(
        allocatable=Resources(cpu=4000, memory=8 << 30, storage_ephemeral=100 << 30),
        available=Resources(cpu=4000, memory=8 << 30, storage_ephemeral=100 << 30),
        bandwidth="100;50",
        version="0.1.0;0.1.0",
        os="linux",
        arch="x86_64",
    )
    context = pinned_client_context(cert_pem) if cert_pem else None
    counters = {"welcomes": 0, "closes": 0, "fatal": 0}
    close_codes: dict[int, int] = {}
    rtts: list[tuple[float, float]] = []  # (when, round trip) of every heartbeat ack

    async def on_event(connection: Connection, event: Event) -> None:
        if isinstance(event, Welcomed):
            counters["welcomes"] += 1
            connection.send_control(capacity)
        elif isinstance(event, HeartbeatAcked):
            rtts.append((time.monotonic(), event.rtt))
        elif isinstance(event, SessionClosing):
            counters["closes"] += 1
            close_codes[event.code] = close_codes.get(event.code, 0) + 1

    def make_client(index: int) -> NodeClient:
        account = devnet_account(_label(index))

        async def sign(text: str) -> str:
            return str(account.sign_message(encode_defunct(text=text)).signature.to_0x_hex())

        return NodeClient(
            url,
            address=account.address,
            sign=sign,
            client=ClientInfo(name="gateway-load", version="0", instance_id=f"load-{index}"),
            leases=list,
            on_event=on_event,
            ssl_context=context,
            policy=ReconnectPolicy(initial=1.0, maximum=10.0),
        )

    async def run(client: NodeClient) -> None:
        try:
            await client.run()
        except FatalSessionError:
            counters["fatal"] += 1

    clients = []
    tasks = []
    started = time.monotonic()
    for index in range(count):
        client = make_client(index)
        clients.append(client)
        tasks.append(asyncio.create_task(run(client)))
        delay = started + (index + 1) / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
    while not stop.is_set():
        await asyncio.sleep(0.2)
    start, end = window[0], window[1] or time.monotonic()
    rtt_sample = sorted(rtt for when, rtt in rtts if start <= when <= end)
    for client in clients:
        client.stop()
    await asyncio.wait(tasks, timeout=30)
    return {
        **counters,
        "close_codes": close_codes,
        "attempts": sum(client.attempts for client in clients),
        "acks": len(rtts),
        "hold_acks": len(rtt_sample),  # the percentiles below are of these
        "ack_rtt_p50_ms": _ms(rtt_sample, 0.5),
        "ack_rtt_p99_ms": _ms(rtt_sample, 0.99),
        "ack_rtt_max_ms": _ms(rtt_sample, 1.0),
    }


def _ms(sorted_samples: list[float], share: float) -> float | None:
    if not sorted_samples:
        return None
    index = min(len(sorted_samples) - 1, int(share * len(sorted_samples)))
    return round(sorted_samples[index] * 1000, 1)
