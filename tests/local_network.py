"""A whole local network inside the test process, for tests whose parts run on several threads
(the desktop app: the engine on the bridge's thread, Qt on the main one).

- :class:`LockedTesterProvider`: the in-process chain (py-evm) takes one caller at a time; this
  provider serialises every request, so the gateway's and the engine's threads can share it.
- :class:`BackgroundGateway`: the reference gateway on its own thread and event loop, published
  on chain (address and pinned certificate) so a node finds it as it would on the devnet.
- :func:`registered_node_parts`: a keystore wallet registered on chain, and the keyword
  arguments that build a :class:`fizz_app.core.node.Node` for it.

Everything is real: contracts, wss with a pinned self-signed certificate, the WebAssembly runner.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from web3 import EthereumTesterProvider, Web3
from web3.types import RPCEndpoint, RPCResponse

from devnet.chain.deploy import deploy_all
from devnet.chain.provider import publish_gateway
from devnet.gateway.server import GatewayServer
from devnet.gateway.tls import self_signed_certificate
from fizz_app.core.chain import AsyncChainClient
from fizz_app.core.config import SettingsStore
from fizz_app.core.jobs.wasm import WasmRunner
from fizz_app.core.wallet import WalletManager
from gateway_client.backoff import ReconnectPolicy
from gateway_client.protocol import TunnelConfig
from tests.devnet.gateway_env import Chain, free_port_range

T = TypeVar("T")

PASSPHRASE = "local-network-passphrase"
CONFIG = TunnelConfig(heartbeat_interval=0.2, heartbeat_timeout=5.0)


class LockedTesterProvider(EthereumTesterProvider):
    """``EthereumTesterProvider`` that any number of threads may call."""

    def __init__(self) -> None:
        super().__init__()
        self._request_lock = threading.RLock()

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        with self._request_lock:
            return super().make_request(method, params)


def thread_safe_chain(home: Path) -> Chain:
    """The in-process devnet with every contract deployed, safe to use from many threads."""
    w3 = Web3(LockedTesterProvider())
    return Chain(w3, deploy_all(w3, w3.eth.accounts[0]), home)


class BackgroundGateway:
    """The reference gateway running on a thread of its own; a context manager.

    ``call(lambda server: server.deploy(...))`` runs a coroutine on the gateway's loop and
    returns its result (or raises its error).
    """

    def __init__(self, chain: Chain, folder: Path, **options: Any) -> None:
        self.chain = chain
        self.certificate = self_signed_certificate("127.0.0.1")
        self._options = {
            "public_ports": free_port_range(),
            "certificate": self.certificate,
            "config": CONFIG,
            "state_path": folder / "gateway-state.json",
            "offer_timeout": 10.0,
            **options,
        }
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="gateway", daemon=True)
        self.server: GatewayServer | None = None

    def __enter__(self) -> BackgroundGateway:
        self._thread.start()
        self.server = self._run(self._start())
        publish_gateway(
            self.chain.w3,
            self.chain.deployment,
            host_uri=self.server.url,
            certificate=self.certificate.cert_pem,
        )
        return self

    async def _start(self) -> GatewayServer:
        server = GatewayServer(
            AsyncChainClient(self.chain.client), self.chain.gateway_id, **self._options
        )
        await server.start()
        return server

    def call(self, command: Callable[[GatewayServer], Awaitable[T]], timeout: float = 60) -> T:
        assert self.server is not None
        server = self.server

        async def run() -> T:
            return await command(server)

        return self._run(run(), timeout)

    def _run(self, coroutine: Awaitable[T], timeout: float = 60) -> T:
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(
            coroutine,  # type: ignore[arg-type]
            self._loop,
        )
        return future.result(timeout)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.server is not None:
            self._run(self.server.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def registered_node_parts(
    chain: Chain, home: Path, *, register: bool = True
) -> tuple[str, dict[str, Any]]:
    """A keystore wallet in ``home`` (registered on chain unless ``register`` is False, funded
    either way), settings that keep the node online here (no idle-only rule), and the keyword
    arguments for ``Node(**kwargs)``. Returns (the wallet's address, kwargs)."""
    account = chain.register() if register else chain.funded()
    wallets = WalletManager(home, None, scrypt_n=16)
    wallets.import_private_key(account.key.hex(), PASSPHRASE)
    store = SettingsStore(home / "settings.json")
    store.update_section("limits", idle_only=False, pause_on_fullscreen=False)
    kwargs: dict[str, Any] = {
        "store": store,
        "data_dir": home,
        "wallets": wallets,
        "passphrase": lambda: PASSPHRASE,
        "chain": lambda settings: AsyncChainClient(chain.client),
        "runners": lambda instance: [WasmRunner(home / "leases" / "wasm")],
        "link_options": {
            "policy": ReconnectPolicy(initial=0.05, maximum=0.3),
            "config": CONFIG,
        },
        "tick": 0.1,
        "chain_every": 0.5,
    }
    return account.address, kwargs
