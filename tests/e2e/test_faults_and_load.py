"""Faults and load on the whole local network, every part real and in its own process: ``fizz-node
devnet up`` (anvil, the gateway with its bidding agent and settlement, the matchmaker, a private
Podman engine), one node set up with the CLI and run with ``fizz-node run --json``, and a tenant
driven from this test (orders on chain, manifests through the gateway's tenant API, pages
fetched through its public port).

One network serves the module's tests in order (starting it costs half a minute); each test
leaves the node online with no lease running, and checks that the node's ledger still equals
EscrowProtocol:

- the tenant's workload crashes: the lease fails with the exit code as its reason, the lease is
  closed on chain, and the node takes the next lease;
- the gateway is killed (SIGKILL) mid-lease: ``devnet up`` starts it again from its saved state,
  the node reconnects, the lease carries on (same container, same public port, one lease);
- the node is killed (SIGKILL) mid-lease and started again: the running container is re-adopted
  and served again, nothing is left behind when the lease closes;
- the chain RPC stops answering for a minute (anvil stopped with SIGSTOP): the node says so and
  keeps serving, ``fizz-node status`` fails with a clear message, and once the chain is back
  every block of the lease is paid and booked;
- 2,000 simulated nodes (:mod:`devnet.simulate`: registered wallets, real protocol clients in
  one process) log in and heart-beat while tenants' orders keep flowing to the real node, whose
  leases start as fast as they did alone.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from devnet.chain.anvil import anvil_binary
from devnet.engine.images import WEB_SERVER_COMMAND
from devnet.supervise import Child, cli_json, fizz_node_command, free_port, spawn, wait_for
from tests.e2e.processes import node_env, ours, until, walk

pytestmark = pytest.mark.timeout(900)

ERA_SECONDS = 60
WEB = ("fizz/fault-web", "1")
MAX_PRICE = 1_000_000  # base units per block: 1 uSPON, the demo tenant's default


def _descendant(root: int, match: Callable[[list[str]], bool]) -> psutil.Process:
    """The one process under ``root`` whose command line ``match`` accepts."""
    for process in psutil.Process(root).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if match(process.cmdline()):
                return process
    raise AssertionError(f"no matching process under {root}")


@dataclass
class NodeProcess:
    """``fizz-node run --json`` for this module's node, restartable; its output parsed."""

    argv: list[str]
    env: dict[str, str]
    folder: Path
    child: Child | None = None

    def start(self) -> None:
        self.child = spawn("node", self.argv, self.env, self.folder, append=self.child is not None)

    @property
    def running(self) -> Child:
        assert self.child is not None and self.child.running, self.output()
        return self.child

    def output(self) -> str:
        return "" if self.child is None else self.child.output(tail=50_000_000)

    def records(self, after: int = 0) -> list[dict[str, Any]]:
        """The JSON lines printed since character ``after``."""
        found = []
        for line in self.output()[after:].splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    found.append(record)
        return found

    def mark(self) -> int:
        return len(self.output())

    def lease(self, lease_id: int, after: int = 0) -> dict[str, Any] | None:
        """The latest state the node reported for ``lease_id`` (in a lease event, or in the
        snapshot a restarted node prints first)."""
        latest = None
        for record in self.records(after):
            if record.get("type") == "snapshot":
                leases = record["snapshot"]["leases"]
            else:
                leases = [record["lease"]] if record.get("type") == "lease_changed" else []
            for lease in leases:
                if lease["lease_id"] == str(lease_id):
                    latest = lease
        return latest

    def online_since(self, after: int) -> bool:
        return any(
            record.get("type") == "status_changed" and record.get("status") == "online"
            for record in self.records(after)
        )

    def booked(self) -> int | None:
        """Lease earnings in the node's ledger (its latest earnings event)."""
        events = [r for r in self.records() if r.get("type") == "earnings_changed"]
        if not events:
            return None
        found = [int(v) for k, v in walk(events[-1]) if k == "lease_earnings"]
        return max(found) if found else None


@dataclass
class Network:
    home: Path
    env: dict[str, str]
    up: Child
    node: NodeProcess
    tenant: Any
    image: str
    docker_host: str
    fizz_id: int

    def web(self, command: tuple[str, ...] = WEB_SERVER_COMMAND) -> dict[str, Any]:
        from devnet.tenant import web_service

        service = web_service(self.image)
        service["command"] = list(command)
        return service

    def lease(self, service: dict[str, Any], seconds: float) -> int:
        """Order ``service`` for ``seconds``, wait for its lease on this node, send the
        manifest; the lease id."""
        lease_id = int(self.tenant.order(service, MAX_PRICE, seconds))
        fizz_id, _ = self.tenant.wait_lease(lease_id)
        assert fizz_id == self.fizz_id
        self.tenant.deploy(lease_id, service)
        return lease_id

    def report(self, lease_id: int) -> dict[str, Any]:
        report: dict[str, Any] = self.tenant._api("GET", f"/lease/{lease_id}/status")
        return report

    def containers(self, lease_id: int) -> list[Any]:
        import docker

        from fizz_app.core.jobs.runner import LEASE_LABEL

        client = docker.DockerClient(base_url=self.docker_host)
        try:
            return list(
                client.containers.list(all=True, filters={"label": f"{LEASE_LABEL}={lease_id}"})
            )
        finally:
            client.close()

    def on_chain(self) -> int:
        escrow = self.tenant.deployment.contract(self.tenant.w3, "EscrowProtocol")
        uspon = self.tenant.deployment.address("USPON")
        return int(escrow.functions.fizzNodeEarnings(self.fizz_id, uspon).call()[0])

    def lease_row(self, lease_id: int) -> Any:
        return self.tenant._lease.functions.leases(lease_id).call()

    def settled(self) -> None:
        """Wait until the node's ledger books exactly what EscrowProtocol holds for it."""
        until(
            lambda: (self.node.booked() or 0) == self.on_chain(),  # None: nothing booked yet
            120,
            "the node's ledger to equal EscrowProtocol "
            f"(ledger {self.node.booked()}, chain {self.on_chain()})",
        )


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    if shutil.which("podman") is None or not anvil_binary().is_file():
        pytest.skip("podman and anvil are needed (make test installs them)")
    from devnet.chain.deploy import Deployment
    from devnet.engine.registry import LocalRegistry
    from devnet.tenant import Tenant

    folder = tmp_path_factory.mktemp("faults")
    home = folder / "home"
    home.mkdir()
    env = node_env(home)
    public = free_port()
    fizz = fizz_node_command()
    argv = [fizz, "devnet", "up", "--era-seconds", str(ERA_SECONDS),
            "--port", str(free_port()), "--gateway-port", str(free_port()),
            "--api-port", str(free_port()), "--public-ports", f"{public}-{public + 3}"]  # fmt: skip
    up = spawn("up", argv, env, folder)
    node: NodeProcess | None = None
    try:
        with LocalRegistry() as registry:
            wait_for(up, r"ready\.", 120)
            cli_json(fizz, env, "wallet", "create")
            cli_json(fizz, env, "devnet", "faucet")
            fizz_id = int(cli_json(fizz, env, "register", "--region", "us-east",
                                   "--network", "devnet")["fizz_id"])  # fmt: skip
            cli_json(fizz, env, "limits", "set", "--idle-only", "off")
            description = json.loads((home / "devnet" / "up.json").read_text())
            docker_host = str(description["docker_host"])
            node = NodeProcess([fizz, "run", "--json"], {**env, "DOCKER_HOST": docker_host},
                               folder)  # fmt: skip
            node.start()
            wait_for(node.running, r'"status": "online"', 120)
            registry.add_image(*WEB, cmd=WEB_SERVER_COMMAND)
            image = f"{registry.address}/{WEB[0]}:{WEB[1]}"
            deployment = Deployment.read(home / "devnet" / "deployment.json")
            tenant = Tenant(deployment, str(description["api_url"]), timeout=120)
            tenant.deposit(100_000)
            yield Network(home, env, up, node, tenant, image, docker_host, fizz_id)
    finally:
        if node is not None and node.child is not None:
            node.child.stop(grace_s=60)
        up.stop(grace_s=40)
        for process in ours(home):  # never leave anything behind, even on failure
            process.kill()


def _run_web_lease(net: Network, seconds: float = 600) -> tuple[int, str]:
    """A web lease serving its page through the public port: (lease id, host:port)."""
    lease_id = net.lease(net.web(), seconds)
    return lease_id, net.tenant.check_web(lease_id)


def _fetch(where: str) -> bytes | None:
    from devnet.tenant import _fetch as fetch

    return fetch(f"http://{where}/")


def _web_lease_in_one_container(net: Network) -> tuple[int, str, str]:
    """:func:`_run_web_lease`, checked to run in exactly one container: (lease id, host:port,
    that container's id)."""
    lease_id, where = _run_web_lease(net)
    containers = net.containers(lease_id)
    assert len(containers) == 1, containers
    return lease_id, where, containers[0].id


def _serves_again_from_its_container(
    net: Network, lease_id: int, where: str, container_id: str, *, after: int = 0
) -> None:
    """Wait until the lease's page answers at ``where`` again, then assert that the lease still
    runs in the one container it started in (``container_id``: nothing started twice) and that
    the node's latest word on it (in its output from ``after`` on) is "running"."""
    from devnet.engine.images import INDEX_HTML

    until(lambda: _fetch(where) == INDEX_HTML, 60, f"the page at {where} again")
    assert [c.id for c in net.containers(lease_id)] == [container_id]
    lease = net.node.lease(lease_id, after)
    assert lease is not None and lease["state"] == "running", lease


def _close(net: Network, lease_id: int) -> None:
    """Close the lease on chain; wait until the node closed it and removed its container."""
    net.tenant.close(lease_id)
    until(lambda: (net.node.lease(lease_id) or {}).get("state") == "closed", 60,
           f"the node to close lease {lease_id}")  # fmt: skip
    until(lambda: not net.containers(lease_id), 60, f"lease {lease_id}'s container to go")


def test_a_crashing_workload_fails_its_lease_and_the_node_stays_healthy(net: Network) -> None:
    from devnet.engine.images import INDEX_HTML

    mark = net.node.mark()
    crash = net.web(("sh", "-c", "echo starting; sleep 1; exit 3"))
    lease_id = net.lease(crash, 600)

    failed = until(
        lambda: (lease := net.node.lease(lease_id, mark)) and lease["state"] == "failed" and lease,
        90,
        f"lease {lease_id} to fail",
    )
    assert "3" in failed["reason"], failed
    until(lambda: net.report(lease_id).get("state") == "failed", 30, "the gateway to know")
    assert "3" in str(net.report(lease_id).get("reason")), net.report(lease_id)
    # The settlement closes a lease whose workload ended; the tenant keeps the rest of its lock.
    until(lambda: net.lease_row(lease_id)[9] == 1, 60, f"lease {lease_id} closed on chain")
    until(lambda: not net.containers(lease_id), 60, "the crashed container to be removed")

    # Healthy: still online, and the next lease runs.
    assert net.node.running
    lease_id, where = _run_web_lease(net)
    assert _fetch(where) == INDEX_HTML
    _close(net, lease_id)
    net.settled()


def test_the_gateway_killed_mid_lease_comes_back_and_the_lease_carries_on(net: Network) -> None:
    lease_id, where, container_id = _web_lease_in_one_container(net)
    gateway = _descendant(net.up.pid, lambda argv: "gateway" in argv and "devnet" in argv)
    up_mark, node_mark = len(net.up.output(tail=10_000_000)), net.node.mark()

    gateway.send_signal(signal.SIGKILL)
    wait_for(net.up, r"gateway exited \(-9\); starting it again", 30, after=up_mark)
    wait_for(net.up, r"gateway is back", 90, after=up_mark)
    until(lambda: net.node.online_since(node_mark), 90, "the node to reconnect")

    # The same lease, container and public port: nothing started twice.
    _serves_again_from_its_container(net, lease_id, where, container_id)
    report = net.report(lease_id)
    assert report["state"] == "running", report
    _close(net, lease_id)
    net.settled()


def test_the_node_killed_mid_lease_readopts_its_running_container(net: Network) -> None:
    lease_id, where, container_id = _web_lease_in_one_container(net)

    net.node.running.kill()  # SIGKILL to the whole process group: no drain, no goodbye
    assert [c.status for c in net.containers(lease_id)] == ["running"]
    mark = net.node.mark()
    net.node.start()
    until(lambda: net.node.online_since(mark), 120, "the restarted node to be online")
    _serves_again_from_its_container(net, lease_id, where, container_id, after=mark)
    logs = net.tenant._api("GET", f"/lease/{lease_id}/logs?tail=200")["lines"]
    assert any("re-adopted" in line for line in logs), logs
    _close(net, lease_id)
    net.settled()


def test_the_chain_stopped_for_a_minute_loses_nothing(net: Network) -> None:
    from devnet.engine.images import INDEX_HTML

    before = net.on_chain()
    lease_id, where = _run_web_lease(net)
    anvil = _descendant(net.up.pid, lambda argv: bool(argv) and "anvil" in Path(argv[0]).name)
    mark = net.node.mark()
    anvil.suspend()  # the RPC port still accepts connections; nothing answers them
    stopped = time.monotonic()
    try:
        unreachable = until(
            lambda: next(
                (r for r in net.node.records(mark)
                 if r.get("type") == "chain_changed" and _reachable(r) is False),
                None,
            ),
            120,
            "the node to report the chain unreachable",
        )  # fmt: skip
        assert unreachable["chain"]["error"], unreachable
        status = _status_while_down(net)
        assert status.returncode != 0
        assert "Traceback" not in status.stderr, status.stderr
        assert "127.0.0.1" in status.stderr, status.stderr
        # The lease is served all along: the tunnel needs no chain.
        assert _fetch(where) == INDEX_HTML
        time.sleep(max(0.0, 60 - (time.monotonic() - stopped)))
    finally:
        anvil.resume()
    until(
        lambda: any(
            r.get("type") == "chain_changed" and _reachable(r) is True
            for r in net.node.records(mark)
        ),
        180,
        "the node to report the chain reachable again",
    )
    assert _fetch(where) == INDEX_HTML
    # Every block of the outage is paid once the chain is back: the lease has earned its price
    # for each 2-second block since it started (two blocks of slack for the settlement's tick).
    row = net.lease_row(lease_id)
    price, started = int(row[3]), int(row[7])

    def paid_up() -> bool:
        now = int(time.time())  # anvil stamps blocks with this machine's clock
        return net.on_chain() - before >= price * ((now - started) // 2 - 2)

    until(paid_up, 60, f"the settlement to pay lease {lease_id}'s blocks")
    assert (net.on_chain() - before) // price > 30  # the minute of outage is in there
    _close(net, lease_id)
    net.settled()


def _reachable(record: dict[str, Any]) -> bool | None:
    """A chain_changed event's verdict (``None``: the node went offline, nothing is known)."""
    chain = record.get("chain")
    return None if chain is None else bool(chain["reachable"])


def _status_while_down(net: Network) -> Any:
    import subprocess

    return subprocess.run(
        [fizz_node_command(), "status", "--network", "devnet"],
        env=net.env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def net(network: Network) -> Iterator[Network]:
    """The module's network; after each test the node must still run and hold no lease."""
    yield network
    assert network.node.child is not None and network.node.child.running, network.node.output()


# ---- Load ----------------------------------------------------------------------------------------

SIMULATED_NODES = 2000
LOGIN_RATE = 25.0
"""New simulated nodes a second: about what the gateway verifies on a quiet 2-core machine
(chain reads); faster only adds refused attempts (1013, 503) that cost both sides TLS
handshakes and make the logins slower."""
LEASE_START_TARGET_S = 1.5
"""A container lease whose image is present runs within this of its manifest (issue 5's
target; benchmarks/jobs.py measures it alone)."""


def _start_latency(net: Network, lease_id: int) -> float:
    """Seconds from the node taking the lease's manifest to its workload running."""
    lease = until(
        lambda: (found := net.node.lease(lease_id)) and found["state"] == "running" and found,
        60,
        f"lease {lease_id} to run",
    )
    return float(lease["updated_at"]) - float(lease["created_at"])


def _web_leases(net: Network, count: int) -> list[float]:
    """Run ``count`` web leases one after another (order, match, manifest, page, close);
    their start latencies."""
    from devnet.engine.images import INDEX_HTML

    latencies = []
    for _ in range(count):
        lease_id, where = _run_web_lease(net)
        assert _fetch(where) == INDEX_HTML
        latencies.append(_start_latency(net, lease_id))
        _close(net, lease_id)
    return latencies


def test_leases_start_within_target_with_2000_simulated_nodes_connected(net: Network) -> None:
    import multiprocessing
    import statistics

    from devnet.simulate import nodes_main, register_wallets

    baseline = _web_leases(net, 2)
    registration_s = register_wallets(net.tenant.w3, net.tenant.deployment, SIMULATED_NODES)
    description = json.loads((net.home / "devnet" / "up.json").read_text())
    deployment = net.tenant.deployment
    registry = deployment.contract(net.tenant.w3, "ProviderRegistry")
    # Nodes pin the certificate the gateway publishes on chain.
    cert_pem = str(registry.functions.getProvider(deployment.gateway_provider_id).call()[2])
    context = multiprocessing.get_context("spawn")
    stop, results = context.Event(), context.Queue()
    window = context.Array("d", [time.monotonic(), 0.0])
    nodes = context.Process(
        target=nodes_main,
        args=(description["gateway_url"], SIMULATED_NODES, LOGIN_RATE, cert_pem, window),
        kwargs={"stop": stop, "results": results},
        name="simulated-nodes",
    )
    nodes.start()
    try:
        # Orders flow while the simulated nodes log in (the gateway's busiest time)...
        while_connecting = _web_leases(net, 1)

        def sessions() -> int:
            return int(net.tenant._api("GET", "/status")["gateway"]["sessions"])

        until(lambda: sessions() >= SIMULATED_NODES + 1, 300, "every simulated node to log in")
        connected_s = time.monotonic() - window[0]
        # ... and while all 2,001 sessions heart-beat.
        loaded = _web_leases(net, 3)
        assert sessions() == SIMULATED_NODES + 1
    finally:
        stop.set()
        summary = results.get(timeout=120)
        nodes.join(30)
    print(
        f"\n{SIMULATED_NODES} simulated nodes registered in {registration_s:.0f} s, all logged "
        f"in after {connected_s:.0f} s; lease start (s): alone {baseline}, while they connect "
        f"{while_connecting}, with them all connected {loaded}; the nodes saw {summary}"
    )
    # Every simulated node logged in exactly once (a dropped session would log in again), and
    # closes came only from the gateway's admission control before login (1013, busy) and from
    # the test stopping them (4000).
    assert summary["welcomes"] == SIMULATED_NODES and summary["fatal"] == 0, summary
    assert set(summary["close_codes"]) <= {1013, 4000}, summary
    # Side by side in this run: the real node's leases start as fast as alone (three times
    # its own baseline on a slow machine), and within the target.
    allowed = max(LEASE_START_TARGET_S, 3 * statistics.median(baseline))
    assert statistics.median(while_connecting + loaded) <= allowed, (baseline, loaded)
    net.settled()
