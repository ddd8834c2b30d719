"""Helpers for the gateway tests: the in-process chain with registered nodes, the reference
gateway, NodeClients that sign with real keys, a tiny HTTP server
behind a node, and polling with a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import random
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from web3 import EthereumTesterProvider, Web3
from web3.logs import DISCARD

from devnet.chain.accounts import gateway_account
from devnet.chain.deploy import Deployment, deploy_all
from devnet.chain.faucet import fund
from devnet.chain.tx import send, send_signed
from devnet.gateway.server import GatewayServer
from devnet.gateway.sessions import Session
from fizz_app.core.chain import AsyncChainClient, ChainClient
from fizz_app.core.networks import load_network
from fizz_app.core.wallet import UnlockedWallet
from gateway_client.backoff import ReconnectPolicy
from gateway_client.client import Connection, FatalSessionError, NodeClient
from gateway_client.messages import (
    Capacity,
    ClientInfo,
    LeaseAnnouncement,
    LeaseStatus,
    Prices,
    Resources,
    Side,
)
from gateway_client.protocol import (
    Event,
    HeartbeatAcked,
    SessionClosing,
    State,
    TunnelConfig,
    TunnelProtocol,
    Welcomed,
)

SPEC = "linux,cpu,2,16,100,none,0,us-east,NA,x86_64,0.1.0"
GIB = 1024**3

CAPACITY = Capacity(
    allocatable=Resources(cpu=4000, memory=8 * GIB, storage_ephemeral=100 * GIB),
    available=Resources(cpu=3000, memory=6 * GIB, storage_ephemeral=90 * GIB),
    bandwidth="100;50",
    version="0.1.0;0.1.0",
    os="linux",
    arch="x86_64",
)
FAST_HEARTBEATS = TunnelConfig(heartbeat_interval=0.2, heartbeat_timeout=5.0)


@dataclass
class Chain:
    """The in-process devnet and a chain client over it."""

    w3: Web3
    deployment: Deployment
    home: Path
    client: ChainClient = field(init=False)

    def __post_init__(self) -> None:
        folder = self.home / "devnet"
        folder.mkdir(parents=True, exist_ok=True)
        self.deployment.write_deployment_file(folder / "deployment.json")
        network = load_network("devnet", self.home)
        self.client = ChainClient(network, self.home, w3=self.w3, sleep=lambda _: None)

    @property
    def gateway_id(self) -> int:
        return self.deployment.gateway_provider_id

    def funded(self) -> LocalAccount:
        account: LocalAccount = Account.create()
        fund(self.w3, self.deployment, account.address, 10**18, 0)
        return account

    def register(self, provider_id: int | None = None) -> LocalAccount:
        """A fresh wallet registered as a node linked to ``provider_id`` (default: ours)."""
        account = self.funded()
        self.client.register(
            UnlockedWallet(account),
            provider_id=self.gateway_id if provider_id is None else provider_id,
            spec=SPEC,
            payment_tokens=[self.deployment.address("USPON")],
            reward_wallet=account.address,
        )
        return account

    def fizz_id(self, address: str) -> int:
        registry = self.deployment.contract(self.w3, "FizzRegistry")
        return int(registry.functions.addressToFizzId(address).call())

    def order(
        self,
        tenant: str,
        spec: str,
        *,
        max_price: int,
        blocks: int,
        mode: int = 0,
        token: str | None = None,
    ) -> int:
        """``tenant`` (an unlocked account) creates the order (spheron-network.md §6.1 steps
        1-2), after depositing what it locks (``max_price x blocks``) unless its escrow holds
        that already: uSPON is minted (at least 1000 uSPON at a time), other tokens the
        tenant must hold. Returns the order id."""
        w3, deployment = self.w3, self.deployment
        uspon = deployment.contract(w3, "USPON")
        token = token or uspon.address
        amount = max_price * blocks
        escrow = deployment.contract(w3, "EscrowUser")
        if escrow.functions.availableBalance(tenant, token).call() < amount:
            if token == uspon.address:
                amount = max(amount, 1000 * 10**6)
                fund(w3, deployment, tenant, 0, amount)
            erc20 = w3.eth.contract(address=Web3.to_checksum_address(token), abi=uspon.abi)
            send(w3, erc20.functions.approve(escrow.address, amount), tenant)
            send(w3, escrow.functions.deposit(token, amount), tenant)
        orders = deployment.contract(w3, "OrderRequest")
        params: tuple[Any, ...] = (max_price, blocks, token, spec, 1, mode, [])
        receipt = send(w3, orders.functions.createOrder(params), tenant)
        created = orders.events.OrderCreated().process_receipt(receipt, errors=DISCARD)
        return int(created[0]["args"]["orderId"])

    def bid(self, order_id: int, fizz_id: int, price: int) -> None:
        """The reference gateway bids ``price`` per block for node ``fizz_id``."""
        bid = self.deployment.contract(self.w3, "Bid")
        send_signed(self.w3, bid.functions.placeBid(order_id, price, fizz_id), gateway_account())

    def lease(self, order_id: int, fizz_id: int, price: int) -> None:
        """Bid, match and start the lease of ``order_id`` on ``fizz_id`` at ``price``."""
        self.bid(order_id, fizz_id, price)
        w3, deployment = self.w3, self.deployment
        gateway = deployment.gateway_address
        bid = deployment.contract(w3, "Bid")
        send(w3, bid.functions.matchOrder(order_id, gateway, fizz_id), deployment.settler)
        lease = deployment.contract(w3, "ComputeLease")
        create = lease.functions.createLease(order_id, price, gateway, fizz_id)
        send(w3, create, deployment.settler)

    def claiming_node(self, spec: str = SPEC) -> LocalAccount:
        """A registered node with ``spec`` that claims 2 CPU threads (``gp``, resource 1):
        ``getFizzRewardsPerEra`` gives it 2 x 0.2 x 25 = 10 SPON."""
        account = self.funded()
        self.client.register(
            UnlockedWallet(account),
            provider_id=self.gateway_id,
            spec=spec,
            payment_tokens=[self.deployment.address("USPON")],
            reward_wallet=account.address,
        )
        attributes = self.deployment.contract(self.w3, "FizzAttributeRegistry")
        send_signed(self.w3, attributes.functions.submitAttributes("CPU", [1], [2]), account)
        return account

    def other_gateway(self) -> int:
        """Register a second gateway (provider) and return its id."""
        account = self.funded()
        registry = self.deployment.contract(self.w3, "ProviderRegistry")
        call = registry.functions.addProvider("{}", "127.0.0.2", "", [])
        send_signed(self.w3, call, account)
        return int(registry.functions.addressToProviderId(account.address).call())

    def pending_rewards(self, address: str) -> int:
        """The era rewards ``address`` has been given and not claimed yet (in SPON wei)."""
        rewards = self.deployment.contract(self.w3, "FizzRewardsManager").functions
        return int(rewards.pendingRewards(address).call())

    def era_clock(self) -> tuple[int, int]:
        """When the first reward era began (``genesisTimestamp``) and how many seconds an era
        lasts: era ``n`` starts at ``genesis + n * length``."""
        rewards = self.deployment.contract(self.w3, "FizzRewardsManager").functions
        return int(rewards.genesisTimestamp().call()), int(rewards.eraSeconds().call())


@functools.cache
def _deployed_devnet() -> tuple[Web3, Deployment]:
    w3 = Web3(EthereumTesterProvider())
    return w3, deploy_all(w3, w3.eth.accounts[0])


@contextlib.contextmanager
def devnet_as_deployed(home: Path) -> Iterator[Chain]:
    """The in-process devnet with every contract deployed, as ``gateway_chain`` gives it, but
    deployed once per test process: each use starts from the deployment and reverts the chain
    to it afterwards (an eth-tester snapshot), so no user sees another's orders or leases."""
    w3, deployment = _deployed_devnet()
    tester = w3.provider.ethereum_tester  # type: ignore[attr-defined]
    snapshot = tester.take_snapshot()
    try:
        yield Chain(w3, deployment, home)
    finally:
        tester.revert_to_snapshot(snapshot)


@contextlib.asynccontextmanager
async def gateway_running(
    chain: Chain, folder: Path, **options: Any
) -> AsyncIterator[GatewayServer]:
    """The reference gateway of ``chain`` serving on this event loop, stopped when the block
    ends: on a free range of public ports, with fast heartbeats (:data:`FAST_HEARTBEATS`) and
    its state file in ``folder``. ``options`` go to :class:`GatewayServer` and override these
    (``public_ports=``, ``offer_timeout=``, ``certificate=``...)."""
    settings: dict[str, Any] = {
        "public_ports": free_port_range(),
        "config": FAST_HEARTBEATS,
        "state_path": folder / "gateway-state.json",
        **options,
    }
    server = GatewayServer(AsyncChainClient(chain.client), chain.gateway_id, **settings)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def node_session(
    address: str,
    fizz_id: int,
    *,
    prices: Prices | None = None,
    capacity: Capacity | None = CAPACITY,
    state: State = State.OPEN,
) -> Session:
    """A gateway session of node ``address`` as the gateway keeps it (no socket behind it):
    what the bidding agent and the era rewards read. Set ``connection.protocol.state`` to
    close it."""

    async def on_event(_: Connection, __: Event) -> None:
        return None

    protocol = TunnelProtocol(Side.GATEWAY, 0.0)
    protocol.state = state
    client = ClientInfo(name="fizz-node-test", version="0", instance_id="i")
    connection = Connection(None, protocol, on_event)
    session = Session(address, fizz_id, f"s-{address}", client, connection)
    session.prices, session.capacity = prices, capacity
    return session


def signer(account: LocalAccount) -> Callable[[str], Awaitable[str]]:
    async def sign(text: str) -> str:
        return account.sign_message(encode_defunct(text=text)).signature.to_0x_hex()

    return sign


@dataclass
class Node:
    """A running NodeClient and what it saw."""

    client: NodeClient
    task: asyncio.Task[None]
    events: list[Event]
    leases: list[LeaseAnnouncement]

    def of(self, kind: type[Event]) -> list[Any]:
        return [event for event in self.events if isinstance(event, kind)]

    @property
    def acks(self) -> int:
        return len(self.of(HeartbeatAcked))

    @property
    def closes(self) -> list[SessionClosing]:
        return self.of(SessionClosing)

    async def outcome(self, timeout: float = 10.0) -> FatalSessionError | None:
        """Wait for ``run`` to end; return the fatal refusal it raised, if any."""
        try:
            await asyncio.wait_for(asyncio.shield(self.task), timeout)
        except FatalSessionError as error:
            return error
        return None


@contextlib.asynccontextmanager
async def running_node(
    url: str,
    account: LocalAccount,
    *,
    instance_id: str | None = "instance-a",
    leases: list[LeaseAnnouncement] | None = None,
    sign_with: LocalAccount | None = None,
    policy: ReconnectPolicy | None = None,
    **kwargs: Any,
) -> AsyncIterator[Node]:
    """Run a NodeClient for ``account``: on every welcome it reports its capacity and the
    status of each lease in ``leases`` (also announced at login, for resumption)."""
    events: list[Event] = []
    announced = leases if leases is not None else []

    async def on_event(connection: Connection, event: Event) -> None:
        events.append(event)
        if isinstance(event, Welcomed):
            connection.send_control(CAPACITY)
            for lease in announced:
                connection.send_control(
                    LeaseStatus(lease_id=lease.lease_id, state=lease.state, ports=lease.ports)
                )

    client = NodeClient(
        url,
        address=account.address,
        sign=signer(sign_with or account),
        client=ClientInfo(name="fizz-node-test", version="0", instance_id=instance_id),
        leases=lambda: list(announced),
        on_event=on_event,
        policy=policy or ReconnectPolicy(initial=0.05, maximum=0.2),
        **kwargs,
    )
    task = asyncio.create_task(client.run())
    node = Node(client, task, events, announced)
    try:
        yield node
    finally:
        client.stop()
        with contextlib.suppress(FatalSessionError):
            await asyncio.wait_for(task, 10)


async def wait_for(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    """Poll ``predicate`` until it is true, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def wait_until(probe: Callable[[], Awaitable[object]], timeout: float = 10.0) -> None:
    """Like :func:`wait_for` for an async probe."""
    deadline = time.monotonic() + timeout
    while not await probe():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def free_port_range(size: int = 6) -> range:
    """A random high range of ports that are all free right now."""
    for _ in range(200):
        # Below Linux's ephemeral range (32768-60999): an outgoing connection of the test
        # itself can take a port there between this check and the gateway's bind. Above the
        # real public range (20000-20100), which a developer's gateway may hold.
        start = random.randrange(21000, 32700 - size)
        sockets = []
        try:
            for port in range(start, start + size):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return range(start, start + size)
    raise RuntimeError("no free port range found")


async def http_get(port: int, path: str = "/", *, host: str = "127.0.0.1") -> tuple[int, bytes]:
    """GET ``path`` with HTTP/1.1 over plain TCP; return the status code and the body."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return status, body


async def status_of(port: int) -> dict[str, Any]:
    code, body = await http_get(port, "/status")
    assert code == 200
    result: dict[str, Any] = json.loads(body)
    return result


async def http_server(body: bytes) -> tuple[asyncio.Server, int]:
    """A tiny HTTP server (one response per connection) on a free loopback port."""

    async def serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await reader.readuntil(b"\r\n\r\n")
            head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
            writer.write(head % len(body) + body)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve_one, "127.0.0.1", 0)
    return server, int(server.sockets[0].getsockname()[1])


@dataclass
class HttpAnswer:
    """One HTTP response: status, lowercase headers, body."""

    status: int
    headers: dict[str, str]
    body: bytes
    interim: int = 0
    """1xx answers that came first (``100 Continue``)."""

    def json(self) -> Any:
        return json.loads(self.body)


async def http_request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    *,
    headers: dict[str, str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
    raw: bytes | None = None,
) -> HttpAnswer:
    """Send one HTTP/1.1 request (``raw``: exactly these bytes) and read the whole answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ssl_context)
    try:
        if raw is None:
            lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
            if body is not None:
                lines.append(f"Content-Length: {len(body)}")
            lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
            raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")
        writer.write(raw)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
    interim = 0
    while data.startswith(b"HTTP/1.1 1"):  # 100 Continue before the answer
        data = data.partition(b"\r\n\r\n")[2]
        interim += 1
    head, _, content = data.partition(b"\r\n\r\n")
    first, *rest = head.decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in rest)
    status = int(first.split(" ", 2)[1])
    return HttpAnswer(status, {k.lower(): v for k, v in fields.items()}, content, interim)
