"""The lease lifecycle with the real runners: WebAssembly in-process, containers on real Podman."""

from __future__ import annotations

import base64
import contextlib
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from fizz_app.core.jobs.container import ContainerRunner
from fizz_app.core.jobs.lease_store import Lease, LeaseState, LeaseStore
from fizz_app.core.jobs.leases import LeaseError, LeaseManager, LogLine
from fizz_app.core.jobs.manifest import Capacity, ManifestError, Runtime
from fizz_app.core.jobs.runner import LEASE_LABEL, NODE_LABEL, JobRunner
from fizz_app.core.jobs.wasm import WasmRunner

from . import wasm_modules
from .conftest import leftovers

MIB = 1024**2
GIB = 1024**3
OFFER = Capacity(cpu_millicores=2000, memory_bytes=2 * GIB, storage_bytes=4 * GIB)


def wasm_job(module: bytes, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "wasm-job",
        "runtime": "wasm",
        "wasm_module": base64.b64encode(module).decode(),
        "resources": {
            "cpu": {"units": {"val": "500"}},
            "memory": {"size": {"val": str(16 * MIB)}},
            "storage": [{"name": "default", "size": {"val": str(16 * MIB)}}],
        },
    }
    data.update(fields)
    return data


def http_status_when_up(port: int, timeout: float = 15.0) -> int:
    """GET / on 127.0.0.1:port, retrying while nothing listens yet; the status code."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
                return int(response.status)
        except urllib.error.URLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def http_job(image: str, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "web",
        "image": image,
        "command": ["sh", "-c"],
        "args": ["echo serving; exec httpd -f -p 8080 -h /www"],
        "resources": {
            "cpu": {"units": {"val": "250"}},
            "memory": {"size": {"val": str(64 * MIB)}},
            "storage": [{"name": "default", "size": {"val": str(8 * MIB)}}],
        },
        "expose": [{"port": 8080, "proto": "TCP"}],
    }
    data.update(fields)
    return data


class Recorder:
    def __init__(self) -> None:
        self.changes: list[Lease] = []

    def __call__(self, lease: Lease) -> None:
        self.changes.append(lease)

    def states(self, lease_id: str) -> list[LeaseState]:
        states: list[LeaseState] = []
        for lease in self.changes:
            if lease.lease_id == lease_id and (not states or states[-1] != lease.state):
                states.append(lease.state)
        return states


def wait_for(
    manager: LeaseManager, lease_id: str, *states: LeaseState, timeout: float = 30
) -> Lease:
    """Poll the manager (as the engine does) until the lease is in one of ``states``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        manager.poll()
        lease = manager.get(lease_id)
        if lease is not None and lease.state in states:
            return lease
        time.sleep(0.02)
    raise AssertionError(f"lease {lease_id} is {manager.get(lease_id)}, not in {states}")


@pytest.fixture
def make_manager(tmp_path: Path) -> Iterator[Callable[..., tuple[LeaseManager, Recorder]]]:
    made: list[LeaseManager] = []

    def make(
        *runners: JobRunner, offer: Capacity = OFFER, **options: Any
    ) -> tuple[LeaseManager, Recorder]:
        recorder = Recorder()
        options.setdefault("stop_grace", 1.0)
        manager = LeaseManager(
            LeaseStore(tmp_path / "leases.db"),
            runners or (WasmRunner(tmp_path / "scratch"),),
            offered=lambda: offer,
            on_change=recorder,
            **options,
        )
        made.append(manager)
        return manager, recorder

    yield make
    for manager in made:
        manager.shutdown(stop_jobs=True, timeout=30)


def test_a_wasm_lease_runs_to_completion_through_every_state(make_manager: Any) -> None:
    manager, recorder = make_manager()
    lease = manager.submit("1", wasm_job(wasm_modules.HELLO))
    assert lease.state is LeaseState.PENDING
    done = wait_for(manager, "1", LeaseState.CLOSED)
    assert done.reason == "the job finished (exit code 0)"
    assert done.exit_code == 0
    assert recorder.states("1") == [
        LeaseState.PENDING,
        LeaseState.PREPARING,
        LeaseState.STARTING,
        LeaseState.RUNNING,
        LeaseState.CLOSING,
        LeaseState.CLOSED,
    ]
    lines = manager.logs("1")
    job_lines = [line.text for line in lines if line.source == "job"]
    assert job_lines == ["hello from wasm", "second line"]
    node_lines = [line.text for line in lines if line.source == "node"]
    assert node_lines[0] == "Initializing deployment…"
    assert node_lines[-1] == "Deployment ended: the job finished (exit code 0)"
    assert manager.logs("1", tail=1) == lines[-1:]


def test_a_failing_job_is_failed_with_its_exit_code(make_manager: Any) -> None:
    manager, _ = make_manager()
    manager.submit("exit3", wasm_job(wasm_modules.EXIT_3))
    lease = wait_for(manager, "exit3", LeaseState.FAILED)
    assert (lease.reason, lease.exit_code) == ("the job exited with code 3", 3)


def test_hostile_wasm_job_outliving_its_lease_is_killed(make_manager: Any) -> None:
    manager, _ = make_manager()
    manager.submit("spin", wasm_job(wasm_modules.SPIN), ends_at=time.time() + 0.5)
    lease = wait_for(manager, "spin", LeaseState.CLOSED, LeaseState.FAILED, timeout=10)
    assert lease.state is LeaseState.CLOSED
    assert lease.reason == "the lease ended; the job was stopped"
    assert lease.usage.cpu_seconds > 0


def test_closing_a_running_lease_stops_it_and_frees_its_capacity(make_manager: Any) -> None:
    manager, _ = make_manager(offer=Capacity(500, 16 * MIB, 16 * MIB))
    manager.submit("a", wasm_job(wasm_modules.SPIN))
    wait_for(manager, "a", LeaseState.RUNNING)
    with pytest.raises(ManifestError, match="asks for 500m of CPU but this node offers 0m"):
        manager.submit("b", wasm_job(wasm_modules.HELLO))
    assert manager.get("b") is None
    assert manager.close("a").state is LeaseState.CLOSING
    assert wait_for(manager, "a", LeaseState.CLOSED).reason == "the lease was closed"
    assert manager.free_capacity().cpu_millicores == 500
    manager.submit("b", wasm_job(wasm_modules.HELLO))
    wait_for(manager, "b", LeaseState.CLOSED)


def test_hostile_lease_asking_for_more_than_offered_is_refused_and_not_recorded(
    make_manager: Any,
) -> None:
    manager, recorder = make_manager()
    big = wasm_job(wasm_modules.HELLO)
    big["resources"]["memory"] = {"size": {"val": str(3 * GIB)}}
    with pytest.raises(ManifestError) as caught:
        manager.submit("big", big)
    assert caught.value.code == "exceeds_offer"
    assert "3072 MiB of memory but this node offers 2048 MiB" in str(caught.value)
    assert manager.get("big") is None and recorder.changes == []


def test_resubmitting_an_active_lease_gives_no_duplicate(make_manager: Any) -> None:
    manager, _ = make_manager()
    first = manager.submit("dup", wasm_job(wasm_modules.SPIN))
    again = manager.submit("dup", wasm_job(wasm_modules.SPIN))
    assert again.lease_id == first.lease_id and len(manager.leases()) == 1
    manager.close("dup")
    wait_for(manager, "dup", LeaseState.CLOSED)
    with pytest.raises(LeaseError, match="already ended"):
        manager.submit("dup", wasm_job(wasm_modules.SPIN))


@pytest.mark.parametrize("lease_id", ["", "x" * 65, "../etc", "a b", 7])
def test_malformed_lease_ids_are_refused(make_manager: Any, lease_id: Any) -> None:
    manager, _ = make_manager()
    with pytest.raises(LeaseError, match="is not valid"):
        manager.submit(lease_id, wasm_job(wasm_modules.HELLO))


def test_closing_before_the_job_starts_means_it_never_runs(make_manager: Any) -> None:
    manager, recorder = make_manager()
    manager.submit("early", wasm_job(wasm_modules.SPIN))
    manager.close("early")
    lease = wait_for(manager, "early", LeaseState.CLOSED)
    assert LeaseState.FAILED not in recorder.states("early")
    assert lease.reason in {"the lease was closed before it ran", "the lease was closed"}
    with pytest.raises(LeaseError, match="no lease nope"):
        manager.close("nope")


def test_a_runtime_the_node_cannot_run_is_refused(make_manager: Any, tmp_path: Path) -> None:
    manager, _ = make_manager(
        WasmRunner(tmp_path / "scratch"), ContainerRunner("nobody", base_url="unix:///nonexistent")
    )
    with pytest.raises(ManifestError, match="cannot run container jobs right now"):
        manager.submit("c", http_job("localhost/any:1"))


def test_logs_can_be_followed_live(make_manager: Any) -> None:
    manager, _ = make_manager()
    seen: list[LogLine] = []
    unfollow = manager.follow_logs("f", seen.append)
    manager.submit("f", wasm_job(wasm_modules.HELLO))
    wait_for(manager, "f", LeaseState.CLOSED)
    unfollow()
    assert [line.text for line in seen if line.source == "job"] == [
        "hello from wasm",
        "second line",
    ]
    assert seen == manager.logs("f")


def test_recovery_fails_wasm_leases_honestly(make_manager: Any, tmp_path: Path) -> None:
    store = LeaseStore(tmp_path / "leases.db")
    store.add("w", _parsed(wasm_job(wasm_modules.SPIN)), ends_at=None)
    for state in (LeaseState.PREPARING, LeaseState.STARTING, LeaseState.RUNNING):
        store.update("w", state=state)
    store.close()
    manager, _ = make_manager()  # same database: the node "restarts"
    report = manager.recover()
    assert report.lost == ["w"] and report.adopted == []
    lease = manager.get("w")
    assert lease is not None and lease.state is LeaseState.FAILED
    assert "WebAssembly jobs end when the node stops" in lease.reason


def _parsed(data: dict[str, Any]) -> Any:
    from fizz_app.core.jobs.manifest import parse_manifest

    return parse_manifest(data)


# ---- containers on real Podman ---------------------------------------------------------------


def test_a_container_lease_serves_http_on_loopback_and_leaves_nothing(
    make_manager: Any,
    container_runner: ContainerRunner,
    busybox_image: str,
    engine_client: docker.DockerClient,
) -> None:
    manager, _ = make_manager(container_runner)
    manager.submit("web1", http_job(busybox_image))
    lease = wait_for(manager, "web1", LeaseState.RUNNING)
    port = lease.ports[8080]
    assert manager.ports("web1") == {8080: port}
    # "running" means the container started; httpd inside may need a moment to listen.
    assert http_status_when_up(port) == 200
    node_lines = [line.text for line in manager.logs("web1") if line.source == "node"]
    assert node_lines[-1] == "Deployment startup complete"
    manager.close("web1")
    closed = wait_for(manager, "web1", LeaseState.CLOSED)
    assert closed.ports == {} and manager.ports("web1") == {}
    assert leftovers(engine_client, "web1") == []
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)


def test_hostile_container_lease_outliving_its_lease_is_killed(
    make_manager: Any, container_runner: ContainerRunner, busybox_image: str
) -> None:
    manager, _ = make_manager(container_runner)
    job = http_job(busybox_image, args=["trap '' TERM; while true; do sleep 1; done"])
    manager.submit("overtime", job, ends_at=time.time() + 1.5)
    lease = wait_for(manager, "overtime", LeaseState.CLOSED, LeaseState.FAILED, timeout=30)
    assert (lease.state, lease.reason) == (
        LeaseState.CLOSED,
        "the lease ended; the job was stopped",
    )


def test_hostile_container_lease_asking_for_more_than_offered_is_refused(
    make_manager: Any, container_runner: ContainerRunner, busybox_image: str
) -> None:
    manager, _ = make_manager(container_runner, offer=Capacity(2000, 32 * MIB, GIB))
    with pytest.raises(ManifestError, match="64 MiB of memory but this node offers 32 MiB"):
        manager.submit("greedy", http_job(busybox_image))
    assert manager.get("greedy") is None


def test_a_missing_image_fails_the_lease_with_the_reason(
    make_manager: Any, container_runner: ContainerRunner
) -> None:
    manager, _ = make_manager(container_runner)
    manager.submit("nopull", http_job("localhost/fizz-does-not-exist:1"))
    lease = wait_for(manager, "nopull", LeaseState.FAILED, timeout=60)
    assert "fizz-does-not-exist" in lease.reason
    assert any("Deployment failed" in line.text for line in manager.logs("nopull"))
    assert lease.runtime is Runtime.CONTAINER


def test_a_node_killed_mid_lease_re_adopts_its_container_and_removes_orphans(
    tmp_path: Path,
    podman_socket: str,
    container_runner: ContainerRunner,
    busybox_image: str,
    engine_client: docker.DockerClient,
) -> None:
    database = tmp_path / "leases.db"
    node = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.core.jobs.lease_node",
            str(database),
            podman_socket,
            container_runner.node_id,
            busybox_image,
            "crash1",
        ],
        cwd=Path(__file__).resolve().parents[3],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert node.stdout is not None
        line = node.stdout.readline().split()
        assert line[0] == "running", line
        port = int(line[1])
    finally:
        node.kill()  # SIGKILL: no cleanup runs in the node
        node.wait()
    # A container the book never heard of (the node died between create and record).
    orphan = engine_client.containers.run(
        busybox_image,
        ["sleep", "300"],
        detach=True,
        labels={NODE_LABEL: container_runner.node_id, LEASE_LABEL: "ghost"},
    )

    store = LeaseStore(database)
    manager = LeaseManager(store, [container_runner], offered=lambda: OFFER, stop_grace=1.0)
    try:
        report = manager.recover()
        assert report.adopted == ["crash1"]
        assert report.orphans_removed == ["ghost"]
        assert leftovers(engine_client, "ghost") == []
        lease = manager.get("crash1")
        assert lease is not None and lease.state is LeaseState.RUNNING
        assert lease.ports == {8080: port}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            assert response.status == 200
        assert any("re-adopted" in line.text for line in manager.logs("crash1"))
        manager.close("crash1")
        assert wait_for(manager, "crash1", LeaseState.CLOSED).reason == "the lease was closed"
        assert leftovers(engine_client, "crash1") == []
    finally:
        manager.shutdown(stop_jobs=True)
        with contextlib.suppress(docker.errors.NotFound):
            orphan.remove(force=True)
