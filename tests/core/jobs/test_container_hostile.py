"""Hostile jobs against the container runner on a real Podman engine: each test runs a job that
tries to escape or exhaust its sandbox and checks that the limit holds and the host is fine."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from fizz_app.core.jobs.container import ContainerRunner
from fizz_app.core.jobs.manifest import ExposedPort
from fizz_app.core.jobs.runner import EndReason

from .conftest import MIB, Output, leftovers, new_lease, run_to_end, shell_manifest


def test_hostile_fork_bomb_is_stopped_by_the_pids_limit(
    podman_socket: str, busybox_image: str, engine_client: docker.DockerClient
) -> None:
    limit = 64
    runner = ContainerRunner(
        f"test-{uuid.uuid4().hex[:10]}", base_url=podman_socket, pids_limit=limit
    )
    lease_id = new_lease()
    manifest = shell_manifest(busybox_image, "bomb() { bomb | bomb & }; bomb; sleep 30")
    runner.prepare(lease_id, manifest, Output())
    output = Output()
    handle = runner.start(lease_id, manifest, Output(), output)
    try:
        peak = 0
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            stats = engine_client.api.stats(handle.container_id, stream=False, one_shot=True)
            peak = max(peak, int((stats.get("pids_stats") or {}).get("current") or 0))
            # The host still forks while the bomb goes off.
            assert subprocess.run(["true"], timeout=5).returncode == 0
            time.sleep(0.2)
        assert 0 < peak <= limit
        assert peak > limit // 2, f"the bomb never got going (peak {peak})"
        assert "can't fork" in output.text() or "Resource temporarily unavailable" in (
            output.text()
        )
    finally:
        handle.stop(grace=0)
        runner.close()
    assert leftovers(engine_client, lease_id) == []


def test_hostile_memory_hog_is_oom_killed_and_reported(
    container_runner: ContainerRunner, busybox_image: str
) -> None:
    # dd allocates (and fills) a 256 MiB buffer under a 32 MiB limit.
    manifest = shell_manifest(
        busybox_image,
        "echo allocating; exec dd if=/dev/zero of=/dev/null bs=256M count=1",
        memory_bytes=32 * MIB,
    )
    handle, outcome, output = run_to_end(container_runner, manifest)
    assert outcome.reason is EndReason.OOM_KILLED, (outcome, output.text())
    assert outcome.exit_code == 137
    assert "allocating" in output.lines
    assert handle.stop() == outcome


def test_hostile_cpu_hog_gets_no_more_than_its_quota(
    container_runner: ContainerRunner, busybox_image: str
) -> None:
    manifest = shell_manifest(
        busybox_image, "yes > /dev/null & yes > /dev/null", cpu_millicores=250
    )
    lease_id = new_lease()
    container_runner.prepare(lease_id, manifest, Output())
    handle = container_runner.start(lease_id, manifest, Output(), Output())
    try:
        time.sleep(0.5)
        before, started = handle.usage().cpu_seconds, time.monotonic()
        time.sleep(3)
        used, wall = handle.usage().cpu_seconds - before, time.monotonic() - started
    finally:
        handle.stop(grace=0)
    assert used / wall <= 0.35, f"{used:.2f} CPU-s in {wall:.2f} s with a 250m quota"
    assert used / wall >= 0.05, "the hog did not run at all"


@pytest.fixture
def host_markers() -> Iterator[list[Path]]:
    """Marker files in the host's home and /tmp, removed afterwards."""
    name = f".fizz-hostile-{uuid.uuid4().hex[:8]}"
    markers = [Path.home() / name, Path("/tmp") / name]
    for marker in markers:
        marker.write_text("host secret\n")
    yield markers
    for marker in markers:
        marker.unlink(missing_ok=True)


def test_hostile_job_cannot_read_host_files_or_write_outside_scratch(
    container_runner: ContainerRunner, busybox_image: str, host_markers: list[Path]
) -> None:
    home, tmp = host_markers
    script = (
        f"cat {home} {tmp} {tmp.name} /tmp/{tmp.name}; echo read=$?; "
        "ls /home /root /mnt 2>&1; "
        "for target in /etc/evil /bin/evil /evil; do echo x > $target && echo wrote $target; done; "
        "echo fine > /scratch/ok && cat /scratch/ok; "
        "mkdir /scratch/m && mount -t tmpfs none /scratch/m 2>&1 || echo mount-refused"
    )
    _, outcome, output = run_to_end(container_runner, shell_manifest(busybox_image, script))
    text = output.text()
    assert "host secret" not in text
    assert "read=1" in text
    assert "wrote" not in text and text.count("Read-only file system") == 3
    assert "fine" in output.lines and "mount-refused" in output.lines
    assert "permission denied" in text.lower() or "not permitted" in text
    assert outcome.reason is EndReason.EXITED


@pytest.fixture
def host_loopback_listener() -> Iterator[tuple[int, list[str]]]:
    """A TCP listener on the host's 127.0.0.1; yields its port and the peers it accepted."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    accepted: list[str] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, peer = server.accept()
            except OSError:
                continue
            accepted.append(str(peer))
            connection.sendall(b"host-loopback-secret\n")
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join(timeout=2)
    server.close()


def test_hostile_job_cannot_reach_host_loopback_services(
    container_runner: ContainerRunner,
    busybox_image: str,
    host_loopback_listener: tuple[int, list[str]],
) -> None:
    port, accepted = host_loopback_listener
    with socket.create_connection(("127.0.0.1", port), timeout=2) as own:  # it does answer
        assert own.recv(64) == b"host-loopback-secret\n"
    accepted.clear()
    script = (
        "gateway=$(ip route | awk '/^default/ {print $3}'); echo gateway=$gateway; "
        f"for host in 127.0.0.1 $gateway host.containers.internal; do "
        f"timeout 3 nc $host {port} </dev/null; echo $host=$?; done"
    )
    _, outcome, output = run_to_end(container_runner, shell_manifest(busybox_image, script))
    text = output.text()
    assert "gateway=10." in text or "gateway=172." in text, text
    assert "host-loopback-secret" not in text
    assert accepted == []
    assert outcome.reason is EndReason.EXITED


def test_hostile_lease_cannot_reach_another_lease(
    container_runner: ContainerRunner, busybox_image: str, engine_client: docker.DockerClient
) -> None:
    server = shell_manifest(
        busybox_image, "exec httpd -f -p 8080 -h /www", expose=(ExposedPort(8080),)
    )
    lease_id = new_lease()
    container_runner.prepare(lease_id, server, Output())
    handle = container_runner.start(lease_id, server, Output(), Output())
    try:
        networks = engine_client.containers.get(handle.container_id).attrs["NetworkSettings"]
        (address,) = [n["IPAddress"] for n in networks["Networks"].values()]
        script = f"timeout 4 wget -q -O - http://{address}:8080/index.html; echo rc=$?"
        _, _, output = run_to_end(container_runner, shell_manifest(busybox_image, script))
        assert "fizz test page" not in output.text()
        assert "rc=0" not in output.text()
    finally:
        handle.stop(grace=0)


def test_hostile_job_cannot_write_past_its_scratch_size(
    container_runner: ContainerRunner, busybox_image: str
) -> None:
    script = (
        "dd if=/dev/zero of=/scratch/fill bs=1M count=32; echo scratch=$?; "
        "dd if=/dev/zero of=/tmp/fill bs=1M count=64; echo tmp=$?; du -m /scratch/fill"
    )
    manifest = shell_manifest(busybox_image, script, storage_bytes=8 * MIB, memory_bytes=128 * MIB)
    _, outcome, output = run_to_end(container_runner, manifest)
    text = output.text()
    assert "scratch=1" in text and "tmp=1" in text, text
    assert text.count("No space left on device") == 2
    assert "8\t/scratch/fill" in text  # it got exactly its 8 MiB, no more
    assert outcome.reason is EndReason.EXITED


def test_hostile_job_has_no_capabilities_and_no_new_privileges(
    container_runner: ContainerRunner, busybox_image: str
) -> None:
    script = "grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs)' /proc/self/status"
    _, _, output = run_to_end(container_runner, shell_manifest(busybox_image, script))
    fields = dict(line.split(":\t") for line in output.lines if ":\t" in line)
    assert fields == {
        "CapPrm": "0000000000000000",
        "CapEff": "0000000000000000",
        "CapBnd": "0000000000000000",
        "NoNewPrivs": "1",
    }


def test_hostile_job_outliving_its_lease_is_killed(
    container_runner: ContainerRunner, busybox_image: str, engine_client: docker.DockerClient
) -> None:
    manifest = shell_manifest(busybox_image, "trap '' TERM; while true; do sleep 1; done")
    lease_id = new_lease()
    container_runner.prepare(lease_id, manifest, Output())
    handle = container_runner.start(lease_id, manifest, Output(), Output())
    started = time.monotonic()
    outcome = handle.stop(grace=1, reason=EndReason.DEADLINE)
    assert time.monotonic() - started < 10
    assert outcome.reason is EndReason.DEADLINE and outcome.exit_code == 137
    assert leftovers(engine_client, lease_id) == []
