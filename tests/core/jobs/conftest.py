"""Fixtures for the job runners: a busybox image built locally and a container runner bound to
the real Podman service of ``podman_socket`` (nothing is pulled, nothing is faked)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import docker
import pytest

from fizz_app.core.jobs.container import ContainerHandle, ContainerRunner
from fizz_app.core.jobs.manifest import JobManifest
from fizz_app.core.jobs.runner import LEASE_LABEL, NODE_LABEL, JobOutcome

BUSYBOX = Path("/bin/busybox")  # Debian's busybox-static: a static binary runs in any rootfs
APPLETS = (
    "sh ash httpd sleep cat wget nc dd yes ls echo id grep awk ip head tail timeout touch "
    "mkdir rm df du mount true false env kill ps trap printf wc sed tr"
).split()
IMAGE_REPOSITORY = "localhost/fizz-test-busybox"
INDEX_HTML = b"<h1>fizz test page</h1>\n"
MIB = 1024**2


def _rootfs_tar() -> bytes:
    """A minimal root file system: busybox, its applets, an httpd document root. Built with
    fixed times and owners, so the same busybox always gives the same bytes."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:

        def add(
            name: str, kind: bytes, data: bytes = b"", mode: int = 0o755, link: str = ""
        ) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime, info.linkname = kind, mode, 0, link
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)

        for folder in ("bin", "etc", "tmp", "scratch", "proc", "sys", "dev", "run", "www", "root"):
            add(folder, tarfile.DIRTYPE, mode=0o1777 if folder == "tmp" else 0o755)
        add("bin/busybox", tarfile.REGTYPE, BUSYBOX.read_bytes())
        for applet in APPLETS:
            add(f"bin/{applet}", tarfile.SYMTYPE, link="busybox", mode=0o777)
        add("etc/passwd", tarfile.REGTYPE, b"root:x:0:0:root:/root:/bin/sh\n", mode=0o644)
        add("etc/group", tarfile.REGTYPE, b"root:x:0:\n", mode=0o644)
        add("www/index.html", tarfile.REGTYPE, INDEX_HTML, mode=0o644)
    return out.getvalue()


@pytest.fixture(scope="session")
def engine_client(podman_socket: str) -> Iterator[docker.DockerClient]:
    """A plain SDK client on the test engine, for looking behind the runner's back."""
    client = docker.DockerClient(base_url=podman_socket, timeout=60)
    yield client
    client.close()


@pytest.fixture(scope="session")
def busybox_image(engine_client: docker.DockerClient) -> str:
    """Tag of a busybox image imported through the Docker API (reused while its content is
    the same; never removed, as other test sessions may share the engine's storage)."""
    if not BUSYBOX.is_file():
        pytest.skip("no static busybox at /bin/busybox (Debian: apt-get install busybox-static)")
    data = _rootfs_tar()
    digest = hashlib.sha256(data).hexdigest()[:16]
    tag = f"{IMAGE_REPOSITORY}:{digest}"
    try:
        if engine_client.images.get(tag).labels.get("fizz.test.content") == digest:
            return tag
    except docker.errors.ImageNotFound:
        pass
    answer = engine_client.api.import_image_from_data(
        data, changes=[f"LABEL fizz.test.content={digest}"]
    )
    image_id = json.loads(answer if isinstance(answer, str) else answer.decode())["id"]
    # Podman's import ignores the repository and tag it is given: tag it afterwards.
    engine_client.images.get(image_id).tag(IMAGE_REPOSITORY, digest)
    return tag


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
