"""The two processes of the fizz tunnel under test: ``gateway`` and ``node``.

Run by :class:`~benchmarks.tunnel_lib.fizz.FizzTunnel`, each in its own process (as sshd and
ssh are), so neither competes with the benchmark's client for the same event loop:

- ``python -m benchmarks.tunnel_lib.fizz_proc gateway HOME CERT``: the reference gateway on
  the devnet deployment found in ``HOME/devnet/deployment.json``, serving ``wss://`` with the
  certificate (and key) in CERT; prints ``{"url": ..., "port": ...}`` once it listens.
- ``python -m benchmarks.tunnel_lib.fizz_proc node URL CERT TARGET_PORT`` with the node's key in
  the environment variable ``FIZZ_BENCH_KEY``: logs in, announces one running lease exposing
  TARGET_PORT, and carries its streams.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from eth_account import Account

LEASE = "bench-1"


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


async def gateway(home: Path, cert_file: Path) -> None:
    from devnet.chain.deploy import Deployment
    from devnet.gateway.server import GatewayServer
    from devnet.gateway.tls import Certificate
    from fizz_app.core.chain import AsyncChainClient, ChainClient
    from fizz_app.core.networks import load_network

    os.environ["FIZZ_HOME"] = str(home)
    deployment = Deployment.read(home / "devnet" / "deployment.json")
    chain = AsyncChainClient(ChainClient(load_network("devnet", home), home))
    pem = json.loads(cert_file.read_text())
    server = GatewayServer(
        chain,
        deployment.gateway_provider_id,
        certificate=Certificate(pem["cert"], pem["key"]),
        public_ports=range(int(pem["ports"][0]), int(pem["ports"][1])),
    )
    await server.start()
    print(json.dumps({"url": server.url, "port": server.port}), flush=True)
    await _until_signalled()
    await server.stop()


async def node(url: str, cert_file: Path, target_port: int) -> None:
    from fizz_app.core.tunnel import GatewayLink
    from fizz_app.core.wallet import UnlockedWallet
    from gateway_client.messages import LeaseAnnouncement, LeaseStatus

    account = Account.from_key(os.environ["FIZZ_BENCH_KEY"])
    pem = json.loads(cert_file.read_text())
    capacity = {
        "allocatable": {"cpu": 2000, "memory": 2**30, "storage_ephemeral": 10**10, "gpu": 0},
        "available": {"cpu": 2000, "memory": 2**30, "storage_ephemeral": 10**10, "gpu": 0},
        "bandwidth": "NA;NA",
        "version": "bench;1",
        "os": "linux",
        "arch": "x86_64",
        "cuda_version": "",
        "nvidia_driver_version": "",
    }
    lease = LeaseAnnouncement(lease_id=LEASE, ports=(target_port,), state="running")
    link = GatewayLink(
        1,
        url,
        pem["cert"],
        signer=UnlockedWallet(account),
        capacity=lambda: capacity,
        leases=lambda: [lease],
    )
    task = asyncio.create_task(link.run())
    while not link.state.connected:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    link.send(LeaseStatus(lease_id=LEASE, state="running", ports=(target_port,)))
    print(json.dumps({"connected": True}), flush=True)
    await _until_signalled()
    link.stop()
    await task


def main(argv: list[str]) -> int:
    if argv[:1] == ["gateway"] and len(argv) == 3:
        asyncio.run(gateway(Path(argv[1]), Path(argv[2])))
    elif argv[:1] == ["node"] and len(argv) == 4:
        asyncio.run(node(argv[1], Path(argv[2]), int(argv[3])))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
