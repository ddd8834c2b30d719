"""A whole local network inside the test process, for tests whose parts run on several threads
(the desktop app: the engine on the bridge's thread, Qt on the main one).

- :class:`LockedTesterProvider`: the in-process chain (py-evm) takes one caller at a time; this
  provider serialises every request, so the gateway's and the engine's threads can share it.
- :class:`BackgroundGateway`: the reference gateway on its own thread and event loop, published
  on chain (address and pinned certificate) so a node finds it as it would on the devnet.
- :func:`registered_node_parts`: a keystore wallet registered on chain, and the keyword
  arguments that build a :class:`fizz_app.core.node.Node` for it.
- :class:`RpcServer`: the in-process chain served over HTTP JSON-RPC, as a real RPC host serves
  one; :class:`SwitchableProxy`: a TCP proxy in front of it that a test switches between
  forwarding, refusing connections (the host is down) and accepting them without ever answering
  (the host hangs); :func:`proxied_chain`: the node's chain client through such a proxy.

Everything is real: contracts, wss with a pinned self-signed certificate, the WebAssembly runner,
HTTP and TCP for the RPC.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import enum
import http.server
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from web3 import EthereumTesterProvider, Web3
from web3.datastructures import AttributeDict
from web3.types import RPCEndpoint, RPCResponse

from devnet.chain.deploy import deploy_all
from devnet.chain.provider import publish_gateway
from devnet.gateway.server import GatewayServer
from devnet.gateway.tls import self_signed_certificate
from fizz_app.core.chain import AsyncChainClient, ChainClient
from fizz_app.core.config import Settings, SettingsStore
from fizz_app.core.jobs.wasm import WasmRunner
from fizz_app.core.networks import load_network
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


async def until(
    predicate: Callable[[], object], timeout: float = 30.0, what: str = "", *, every: float = 0.02
) -> None:
    """Await until ``predicate()`` is true, checking every ``every`` seconds.

    Raises:
        AssertionError: ``timeout`` seconds passed first (the message names ``what``).
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(every)


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


# ---- The chain over HTTP, and a proxy that breaks it on demand ----------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, AttributeDict):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _answer(w3: Web3, request: dict[str, Any]) -> dict[str, Any]:
    # Through web3's request pipeline: the in-process provider expects its formatting (the
    # default sender of a call...) and answers with Python values, encoded back here.
    answer: dict[str, Any] = {"jsonrpc": "2.0", "id": request.get("id")}
    try:
        answer["result"] = w3.manager.request_blocking(request["method"], request.get("params", []))
    except Exception as error:
        answer["error"] = {"code": -32000, "message": f"{type(error).__name__}: {error}"}
    return answer


class RpcServer:
    """The in-process chain of ``w3`` served as HTTP JSON-RPC on 127.0.0.1, as an RPC host
    serves a chain; a context manager. ``url`` is its address. Requests are answered one at a
    time (enough for the chain reads of a node).

    :attr:`carried_out`, when set, is called with each request once the chain has carried it
    out and before the answer is written: a test can break the connection there (switch a
    :class:`SwitchableProxy` in front), so the request takes effect and its answer is lost.
    """

    def __init__(self, w3: Web3) -> None:
        lock = threading.Lock()
        server = self
        self.carried_out: Callable[[dict[str, Any]], None] | None = None

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the http.server name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    answer = _answer(w3, body)
                    if server.carried_out is not None:
                        server.carried_out(body)
                payload = json.dumps(answer, default=_jsonable).encode()
                with contextlib.suppress(OSError):  # the client is gone: the answer is lost
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.address[1]}"

    def __enter__(self) -> RpcServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


class ProxyMode(enum.Enum):
    FORWARD = "forward"
    """Pass bytes both ways."""
    REFUSE = "refuse"
    """Nothing listens on the port: connections are refused (the RPC host is down)."""
    HANG = "hang"
    """Connections are accepted and never answered (the host is stopped or overloaded)."""


class SwitchableProxy:
    """A TCP proxy on 127.0.0.1 in front of ``target`` (host, port); a context manager.

    :meth:`switch` changes what it does with new connections (:class:`ProxyMode`) and closes
    the forwarded ones open at that moment, so that no pooled keep-alive connection slips past
    the change; connections it hangs stay silent until the proxy closes (their clients time
    out, as with a real hung host). The port stays the same in every mode. ``credentials``
    (e.g. ``"user:pass@"``) and ``suffix`` (e.g. ``"/v2/KEY?key=KEY"``) go into :attr:`url`, as
    real RPC addresses carry API keys.
    """

    def __init__(self, target: tuple[str, int], *, credentials: str = "", suffix: str = "") -> None:
        self._target = target
        self._credentials = credentials
        self._suffix = suffix
        self._lock = threading.Lock()
        self._mode = ProxyMode.FORWARD
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._switching = threading.Lock()
        self._port = 0
        self._open: set[socket.socket] = set()
        self._hung: set[socket.socket] = set()
        self.accepted: dict[ProxyMode, int] = {mode: 0 for mode in ProxyMode}
        """Connections accepted in each mode so far."""

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self._credentials}127.0.0.1:{self._port}{self._suffix}"

    @property
    def mode(self) -> ProxyMode:
        return self._mode

    def held(self) -> int:
        """Connections accepted while hanging that are still open (calls waiting for an answer)."""
        with self._lock:
            return len(self._hung)

    def switch(self, mode: ProxyMode) -> None:
        """Handle connections as ``mode`` says from now on (any thread may switch: one
        switch finishes before the next starts)."""
        with self._switching:
            with self._lock:
                self._mode = mode
                self._close_open(keep=self._hung)
            if mode is ProxyMode.REFUSE:
                self._stop_listening()
            elif self._listener is None:
                self._listen()

    def __enter__(self) -> SwitchableProxy:
        self._listen()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop_listening()
        with self._lock:
            self._close_open()

    # ---- Private API

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self._port))
        listener.listen(64)
        listener.settimeout(0.05)
        self._port = listener.getsockname()[1]
        self._listener = listener
        self._acceptor = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._acceptor.start()

    def _stop_listening(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        # The port stays bound until the accepting thread leaves accept() (its 0.05 s
        # timeout): wait for it, so that listening again at once finds the port free.
        acceptor, self._acceptor = self._acceptor, None
        if acceptor is not None and acceptor is not threading.current_thread():
            acceptor.join(5)

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed by _stop_listening
                return
            client.settimeout(None)
            with self._lock:
                mode = self._mode
                self.accepted[mode] += 1
                self._open.add(client)
                if mode is ProxyMode.HANG:
                    self._hung.add(client)
                    continue
            self._forward(client)

    def _forward(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self._target, timeout=5)
        except OSError:
            self._close(client)
            return
        upstream.settimeout(None)
        with self._lock:
            self._open.add(upstream)
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        self._close(source)
        self._close(sink)

    def _close(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
            self._hung.discard(sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def _close_open(self, keep: set[socket.socket] | None = None) -> None:
        for sock in list(self._open - (keep or set())):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            self._open.discard(sock)
            self._hung.discard(sock)


RPC_PASSWORD = "sekret-pass"
RPC_PATH_KEY = "0123456789abcdefKEY"
RPC_QUERY_KEY = "TOPSECRETVALUE"
"""The secrets :func:`keyed_proxy` puts in its address, as Alchemy/Infura-style URLs carry
them (userinfo, path, query): tests check that none of them ever leaves the core."""


def keyed_proxy(address: tuple[str, int]) -> SwitchableProxy:
    """A :class:`SwitchableProxy` to ``address`` whose URL carries a password and API keys."""
    return SwitchableProxy(
        address,
        credentials=f"ada:{RPC_PASSWORD}@",
        suffix=f"/v2/{RPC_PATH_KEY}?apikey={RPC_QUERY_KEY}",
    )


def proxied_chain(
    chain: Chain, home: Path, url: str, *, rpc_timeout: float
) -> Callable[[Settings], AsyncChainClient]:
    """A ``chain`` factory for :class:`fizz_app.core.node.Node` whose client talks HTTP to
    ``url`` (a :class:`SwitchableProxy` in front of an :class:`RpcServer` of ``chain``) with
    ``rpc_timeout``-second requests and no pause between its retries."""
    network = load_network("devnet", chain.home, rpc_url=url)

    def make(settings: Settings) -> AsyncChainClient:
        client = ChainClient(network, home, rpc_timeout=rpc_timeout, sleep=lambda _: None)
        return AsyncChainClient(client)

    return make
