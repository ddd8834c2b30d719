"""Fixtures for the job runners: a busybox image built locally and a container runner bound to
the real Podman service of ``podman_socket`` (nothing is pulled, nothing is faked)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import docker
import pytest

from fizz_app.core.jobs.container import ContainerHandle, ContainerRunner
from fizz_app.core.jobs.manifest import JobManifest
from fizz_app.core.jobs.runner import LEASE_LABEL, NODE_LABEL, JobOutcome

MIB = 1024**2


@pytest.fixture
def container_runner(
    podman_socket: str, engine_client: docker.DockerClient
) -> Iterator[ContainerRunner]:
    """A runner with a node id of its own; everything it created is removed afterwards, even
    when the test fails."""
    runner = ContainerRunner(
        f"test-{uuid.uuid4().hex[:10]}", base_url=podman_socket, stats_interval=0.5
    )
    try:
        yield runner
    finally:
        remove_node(engine_client, runner.node_id)
        runner.close()


def remove_node(client: docker.DockerClient, node_id: str) -> None:
    """Remove every container and network labelled with ``node_id`` (test cleanup)."""
    label = {"label": [f"{NODE_LABEL}={node_id}"]}
    for container in client.containers.list(all=True, filters=label):
        container.remove(force=True, v=True)
    for network in client.networks.list(filters=label):
        network.remove()


def leftovers(client: docker.DockerClient, lease_id: str) -> list[str]:
    """Containers and networks that still carry ``lease_id``'s label."""
    label = {"label": [f"{LEASE_LABEL}={lease_id}"]}
    containers = [f"container {c.name}" for c in client.containers.list(all=True, filters=label)]
    return containers + [f"network {n.name}" for n in client.networks.list(filters=label)]


@dataclass
class Output:
    """A thread-safe sink that collects lines."""

    lines: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, line: str) -> None:
        with self.lock:
            self.lines.append(line)

    def text(self) -> str:
        with self.lock:
            return "\n".join(self.lines)


def new_lease() -> str:
    return f"lease-{uuid.uuid4().hex[:8]}"


def shell_manifest(image: str, script: str, **overrides: Any) -> JobManifest:
    """A small job running ``sh -c script`` (overrides: any JobManifest field)."""
    base = JobManifest(
        name="job",
        image=image,
        command=("sh", "-c"),
        args=(script,),
        cpu_millicores=500,
        memory_bytes=64 * MIB,
        storage_bytes=8 * MIB,
    )
    return replace(base, **overrides)


def run_to_end(
    runner: ContainerRunner, manifest: JobManifest, timeout: float = 30
) -> tuple[ContainerHandle, JobOutcome, Output]:
    """Prepare, start and wait for a job; return its handle (stop it), outcome and output."""
    lease_id, output, log = new_lease(), Output(), Output()
    runner.prepare(lease_id, manifest, log)
    handle = runner.start(lease_id, manifest, log, output)
    outcome = handle.wait(timeout)
    assert outcome is not None, f"the job did not end within {timeout} s: {output.text()}"
    return handle, outcome, output
