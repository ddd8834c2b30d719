"""The project's own tunnel under test: a real chain (anvil), the reference gateway and a node,
the two last in processes of their own, with TLS and the login checked on chain."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from eth_account import Account

from .procs import spawn, stop_process
from .ssh import free_port
from .tunnels import Address, TunnelStartError

ROOT = Path(__file__).resolve().parents[2]
SPEC = "linux,cpu,2,1,10,none,0,us-east,NA,x86_64,bench"


class FizzTunnel:
    """``start()`` returns the gateway's public port for the node's lease, once a connection
    through it reaches ``target``."""

    def __init__(self, target: Address, *, start_timeout_s: float = 60.0) -> None:
        self._target = target
        self._timeout = start_timeout_s
        self._folder: Path | None = None
        self._anvil: object | None = None
        self._processes: list[asyncio.subprocess.Process] = []
        self._details: dict[str, str] = {}

    def details(self) -> dict[str, str]:
        return dict(self._details)

    async def start(self) -> Address:
        try:
            return await asyncio.wait_for(self._start(), self._timeout)
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> Address:
        from devnet.chain.anvil import AnvilProcess
        from devnet.chain.deploy import Deployment, deploy_all
        from devnet.chain.faucet import fund
        from devnet.gateway.tls import self_signed_certificate
        from fizz_app.core.chain import ChainClient
        from fizz_app.core.networks import load_network
        from fizz_app.core.wallet import UnlockedWallet

        folder = Path(tempfile.mkdtemp(prefix="fizz-bench-"))
        self._folder = folder
        anvil = AnvilProcess().start()
        self._anvil = anvil
        w3 = anvil.web3()
        deployment = deploy_all(w3, w3.eth.accounts[0])
        deployment = Deployment(**{**deployment.__dict__, "rpc_url": anvil.rpc_url})
        deployment.write_deployment_file(folder / "devnet" / "deployment.json")
        account = Account.create()
        fund(w3, deployment, account.address, 10**18, 0)
        client = ChainClient(load_network("devnet", folder), folder)
        client.register(
            UnlockedWallet(account),
            provider_id=deployment.gateway_provider_id,
            spec=SPEC,
            payment_tokens=[],
            reward_wallet=account.address,
        )
        certificate = self_signed_certificate()
        low = free_port()
        secrets = folder / "cert.json"
        secrets.touch(mode=0o600)
        secrets.write_text(
            json.dumps(
                {"cert": certificate.cert_pem, "key": certificate.key_pem, "ports": [low, low + 1]}
            )  # fmt: skip
        )
        python = sys.executable
        gateway = await spawn(
            [python, "-m", "benchmarks.tunnel_lib.fizz_proc", "gateway", str(folder), str(secrets)],
            folder / "gateway.log",
        )
        self._processes.append(gateway)
        url = await self._first_json(folder / "gateway.log", gateway, "url")
        os.environ["FIZZ_BENCH_KEY"] = account.key.hex()
        try:
            node = await spawn(
                [python, "-m", "benchmarks.tunnel_lib.fizz_proc", "node", url, str(secrets),
                 str(self._target[1])],
                folder / "node.log",
            )  # fmt: skip
        finally:
            del os.environ["FIZZ_BENCH_KEY"]
        self._processes.append(node)
        await self._first_json(folder / "node.log", node, "connected")
        public = await self._public_port(url)
        await self._reaches_target(public)
        self._details.update(gateway=url, public_port=str(public), tls="pinned self-signed")
        return ("127.0.0.1", public)

    async def _first_json(self, log: Path, process: asyncio.subprocess.Process, key: str) -> str:
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            for line in log.read_text(errors="replace").splitlines():
                if line.startswith("{") and key in line:
                    return str(json.loads(line)[key])
            if process.returncode is not None:
                raise TunnelStartError(f"{log.stem} exited: {log.read_text()[-1500:]}")
            await asyncio.sleep(0.05)
        raise TunnelStartError(f"{log.stem} did not start: {log.read_text()[-1500:]}")

    async def _public_port(self, url: str) -> int:
        status_url = url.replace("wss://", "https://").replace("ws://", "http://") + "/status"
        import ssl

        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the benchmark reads its own gateway's status
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            data = await asyncio.to_thread(
                lambda: json.loads(urllib.request.urlopen(status_url, context=context).read())
            )
            for lease in data.get("leases", []):
                for port in lease.get("ports", []):
                    if port.get("public_port"):
                        return int(port["public_port"])
            await asyncio.sleep(0.05)
        raise TunnelStartError("the gateway never published the lease's port")

    async def _reaches_target(self, public: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", public)
        writer.close()

    async def stop(self) -> None:
        for process in reversed(self._processes):
            await stop_process(process)
        self._processes = []
        anvil = self._anvil
        if anvil is not None:
            anvil.stop()  # type: ignore[attr-defined]
            self._anvil = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
