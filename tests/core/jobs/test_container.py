"""The container runner against a real Podman Docker API: lifecycle, adoption, cleanup, errors.

The engine and the busybox image are real (tests/conftest.py, tests/core/jobs/conftest.py);
only the GPU arguments are checked as data, since no GPU is here.
"""

from __future__ import annotations

import socket
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import docker
import pytest

from devnet.engine.images import INDEX_HTML
from fizz_app.core.jobs.container import ContainerRunner
from fizz_app.core.jobs.container_spec import (
    SCRATCH_PATH,
    container_arguments,
    gpu_mechanism,
    outcome_from_state,
    resource_name,
)
from fizz_app.core.jobs.engine import ENGINE_REMEDY
from fizz_app.core.jobs.manifest import ExposedPort, JobManifest
from fizz_app.core.jobs.runner import (
    LEASE_LABEL,
    NODE_LABEL,
    STARTUP_LINES,
    EndReason,
    JobHandle,
    JobRunner,
    RunnerError,
)

from .conftest import (
    MIB,
    Output,
    leftovers,
    new_lease,
    remove_node,
    run_to_end,
    shell_manifest,
)


def web_manifest(image: str) -> JobManifest:
    return JobManifest(
        name="web",
        image=image,
        command=("httpd",),
        args=("-f", "-vv", "-p", "8080", "-h", "/www"),
        expose=(ExposedPort(8080),),
        cpu_millicores=500,
        memory_bytes=64 * MIB,
        storage_bytes=8 * MIB,
    )


def http_get(port: int, path: str = "/index.html", timeout: float = 10) -> bytes:
    """GET from the job's published port, retrying while the server inside starts."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as answer:
                return bytes(answer.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def port_is_closed(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex(("127.0.0.1", port)) != 0


def wait_for(predicate: object, timeout: float = 10) -> bool:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def logs_requests(port: int, output: Output, timeout: float = 30) -> bool:
    """True once ``output`` carries httpd's log line for a request to ``port``. It asks again
    every second: Podman's log follow can miss a line written while it attaches (a known
    k8s-file race under load), and each request writes a fresh line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        http_get(port)
        if wait_for(lambda: "url:/index.html" in output.text(), timeout=1):
            return True
    return False


def test_runner_implements_the_protocol(container_runner: ContainerRunner) -> None:
    runner: JobRunner = container_runner
    assert runner.available()


def test_http_server_runs_limited_and_stop_leaves_nothing(
    container_runner: ContainerRunner, busybox_image: str, engine_client: docker.DockerClient
) -> None:
    lease_id, log, output = new_lease(), Output(), Output()
    manifest = web_manifest(busybox_image)
    container_runner.prepare(lease_id, manifest, log)
    handle = container_runner.start(lease_id, manifest, log, output)
    assert isinstance(handle, JobHandle)
    assert [line for line in log.lines if line in STARTUP_LINES] == list(STARTUP_LINES)
    assert f"Container image {busybox_image} is already present." in log.lines
    port = handle.ports[8080]
    assert http_get(port) == INDEX_HTML
    assert handle.outcome() is None
    # httpd -vv logs each request to stderr: the output stream carries it.
    assert logs_requests(port, output), output.text()

    container = engine_client.containers.get(handle.container_id)
    host = container.attrs["HostConfig"]
    assert host["NanoCpus"] == 500_000_000
    assert host["Memory"] == host["MemorySwap"] == 64 * MIB
    assert host["ReadonlyRootfs"] and host["PidsLimit"] == 256
    assert host["PortBindings"]["8080/tcp"][0]["HostIp"] == "127.0.0.1"
    assert not host["Binds"] and not host["Privileged"]
    assert container.labels[LEASE_LABEL] == lease_id
    assert container.labels[NODE_LABEL] == container_runner.node_id

    usage = handle.usage()
    assert usage.cpu_seconds > 0 and usage.peak_memory_bytes > 0
    assert usage.bytes_in > 0 and usage.bytes_out > 0

    outcome = handle.stop(grace=1)
    assert outcome.reason is EndReason.STOPPED
    assert leftovers(engine_client, lease_id) == []
    assert port_is_closed(port)
    assert handle.stop() == outcome  # idempotent
    assert handle.outcome() == outcome
    assert handle.usage().cpu_seconds >= usage.cpu_seconds  # usage survives the container


def test_concurrent_stops_agree(
    container_runner: ContainerRunner, busybox_image: str, engine_client: docker.DockerClient
) -> None:
    manifest = shell_manifest(busybox_image, "sleep 60")
    lease_id = new_lease()
    container_runner.prepare(lease_id, manifest, Output())
    handle = container_runner.start(lease_id, manifest, Output(), Output())
    with ThreadPoolExecutor(max_workers=4) as pool:
        stops = [pool.submit(handle.stop, 1.0) for _ in range(3)]
        usage, outcome = pool.submit(handle.usage), pool.submit(handle.outcome)
        outcomes = {future.result(timeout=30) for future in stops}
        usage.result(timeout=30)
        outcome.result(timeout=30)
    assert len(outcomes) == 1 and outcomes.pop().reason is EndReason.STOPPED
    assert leftovers(engine_client, lease_id) == []


def test_exit_code_and_both_output_streams(
    container_runner: ContainerRunner, busybox_image: str, engine_client: docker.DockerClient
) -> None:
    manifest = shell_manifest(busybox_image, "echo to-stdout; echo to-stderr >&2; exit 3")
    handle, outcome, output = run_to_end(container_runner, manifest)
    assert (outcome.reason, outcome.exit_code) == (EndReason.EXITED, 3)
    assert "to-stdout" in output.lines and "to-stderr" in output.lines
    assert handle.stop() == outcome  # an ended job keeps its own outcome
    assert leftovers(engine_client, handle.lease_id) == []


def test_adopt_after_the_runner_is_gone_controls_the_container(
    podman_socket: str,
    container_runner: ContainerRunner,
    busybox_image: str,
    engine_client: docker.DockerClient,
) -> None:
    lease_id = new_lease()
    manifest = web_manifest(busybox_image)
    container_runner.prepare(lease_id, manifest, Output())
    first = container_runner.start(lease_id, manifest, Output(), Output())
    port = first.ports[8080]
    container_runner.close()  # the node "crashes": the runner and its handle are dropped
    del first

    other_node = ContainerRunner("test-other-node", base_url=podman_socket)
    try:
        other_lease = new_lease()
        other_node.prepare(other_lease, manifest, Output())
        other_node.start(other_lease, manifest, Output(), Output())

        restarted = ContainerRunner(container_runner.node_id, base_url=podman_socket)
        outputs: dict[str, Output] = {}
        handles = restarted.adopt(lambda lease: outputs.setdefault(lease, Output()))
        assert [h.lease_id for h in handles] == [lease_id]  # not the other node's
        handle = handles[0]
        assert handle.ports == {8080: port}
        assert handle.outcome() is None
        assert http_get(port) == INDEX_HTML
        assert logs_requests(port, outputs[lease_id]), outputs[lease_id].text()
        assert handle.usage().cpu_seconds > 0
        assert handle.stop(grace=1).reason is EndReason.STOPPED
        assert leftovers(engine_client, lease_id) == []
        assert port_is_closed(port)
        assert leftovers(engine_client, other_lease) != []  # untouched
        restarted.close()
    finally:
        remove_node(engine_client, "test-other-node")
        other_node.close()


def test_adopt_reports_a_job_that_ended_while_the_node_was_down(
    podman_socket: str, container_runner: ContainerRunner, busybox_image: str
) -> None:
    manifest = shell_manifest(busybox_image, "echo done; exit 7")
    lease_id = new_lease()
    container_runner.prepare(lease_id, manifest, Output())
    container_runner.start(lease_id, manifest, Output(), Output()).wait(20)
    container_runner.close()
    restarted = ContainerRunner(container_runner.node_id, base_url=podman_socket)
    (handle,) = restarted.adopt(lambda lease: Output())
    outcome = handle.outcome()
    assert outcome is not None and (outcome.reason, outcome.exit_code) == (EndReason.EXITED, 7)
    assert handle.stop() == outcome
    restarted.close()


def test_remove_orphans_keeps_what_it_is_told(
    podman_socket: str,
    container_runner: ContainerRunner,
    busybox_image: str,
    engine_client: docker.DockerClient,
) -> None:
    manifest = shell_manifest(busybox_image, "sleep 60")
    leases = [new_lease(), new_lease()]
    handles = []
    for lease_id in leases:
        container_runner.prepare(lease_id, manifest, Output())
        handles.append(container_runner.start(lease_id, manifest, Output(), Output()))
    stranger = engine_client.containers.create(
        busybox_image,
        ["sleep", "60"],
        labels={LEASE_LABEL: leases[1]},  # no node label
    )
    try:
        assert container_runner.remove_orphans(keep={leases[0]}) == [leases[1]]
        assert leftovers(engine_client, leases[1]) == [f"container {stranger.name}"]
        assert handles[0].outcome() is None
        assert handles[1].wait(10) is not None  # its container is gone
        assert container_runner.remove_orphans(keep={leases[0]}) == []
    finally:
        stranger.remove(force=True)


def test_start_failure_removes_what_it_created(
    container_runner: ContainerRunner, busybox_image: str, engine_client: docker.DockerClient
) -> None:
    manifest = replace(shell_manifest(busybox_image, ""), command=("/bin/no-such-program",))
    lease_id = new_lease()
    container_runner.prepare(lease_id, manifest, Output())
    with pytest.raises(RunnerError, match=f"Could not start the container for lease {lease_id}"):
        container_runner.start(lease_id, manifest, Output(), Output())
    assert leftovers(engine_client, lease_id) == []


def test_start_without_the_image_asks_to_prepare(container_runner: ContainerRunner) -> None:
    manifest = shell_manifest("localhost/fizz-test-never-imported:1", "true")
    with pytest.raises(RunnerError, match="is not here") as caught:
        container_runner.start(new_lease(), manifest, Output(), Output())
    assert caught.value.remedy == "Prepare the lease first."


def test_pull_failure_names_the_image_and_fails_fast(container_runner: ContainerRunner) -> None:
    image = "registry.invalid/fizz/no-such-image:1"
    log = Output()
    started = time.monotonic()
    with pytest.raises(RunnerError) as caught:
        container_runner.prepare(new_lease(), shell_manifest(image, "true"), log)
    assert time.monotonic() - started < 15
    message = str(caught.value)
    assert message.startswith(f"Could not pull container image {image}: ")
    assert "registry.invalid" in message.partition(": ")[2]  # the engine's cause follows
    assert "image name" in caught.value.remedy
    assert log.lines[:2] == list(STARTUP_LINES[:2])


def test_engine_unreachable_is_reported_with_a_remedy(tmp_path: Path) -> None:
    runner = ContainerRunner("test-nowhere", base_url=f"unix://{tmp_path}/missing.sock")
    started = time.monotonic()
    assert runner.available() is False
    assert time.monotonic() - started < 3
    with pytest.raises(RunnerError, match="No container engine answers") as caught:
        runner.prepare(new_lease(), shell_manifest("busybox", "true"), Output())
    assert caught.value.remedy == ENGINE_REMEDY
    with pytest.raises(RunnerError):
        runner.remove_orphans(set())


def test_docker_host_is_honoured(
    podman_socket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", podman_socket)
    assert ContainerRunner("test-env").available()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/missing.sock")
    assert not ContainerRunner("test-env").available()


# ---- arguments as data: GPU, names, states --------------------------------------------------


def gpu_manifest() -> JobManifest:
    return JobManifest(name="ml", image="cuda:12", gpu_units=1, gpu_model="rtx4090")


def test_arguments_apply_every_limit() -> None:
    manifest = replace(
        gpu_manifest(), gpu_units=0, cpu_millicores=250, storage_bytes=0, env={"A": "1"}
    )
    args = container_arguments("l1", manifest, node_id="n1", network="net", pids_limit=99)
    assert args["nano_cpus"] == 250_000_000
    assert args["mem_limit"] == args["memswap_limit"] == manifest.memory_bytes
    assert (args["pids_limit"], args["cap_drop"], args["read_only"]) == (99, ["ALL"], True)
    assert args["security_opt"] == ["no-new-privileges"]
    assert "size=4096," in args["tmpfs"][SCRATCH_PATH]  # 0 bytes would mean "unlimited"
    assert "device_requests" not in args and "volumes" not in args
    assert args["environment"] == {"A": "1"} and args["network"] == "net"


def gpu_arguments(gpu_device: str | None, gpu_attach: str | None = "nvidia") -> dict[str, Any]:
    return container_arguments(
        "l1",
        gpu_manifest(),
        node_id="n1",
        network="net",
        pids_limit=10,
        gpu_device=gpu_device,
        gpu_attach=gpu_attach,
    )


def test_gpu_arguments_per_engine() -> None:
    (request,) = gpu_arguments("GPU-1")["device_requests"]
    assert (request["Driver"], request["DeviceIDs"], request["Capabilities"]) == (
        "nvidia",
        ["GPU-1"],
        [["gpu"]],
    )
    (cdi,) = gpu_arguments("0", "cdi")["device_requests"]
    assert (cdi["Driver"], cdi["DeviceIDs"]) == ("cdi", ["nvidia.com/gpu=0"])
    with pytest.raises(RunnerError, match="lends none"):
        gpu_arguments(None)
    with pytest.raises(RunnerError, match="cannot attach a GPU") as caught:
        gpu_arguments("0", None)
    assert "Podman 5.4" in caught.value.remedy


def test_gpu_mechanism_by_engine() -> None:
    assert gpu_mechanism("Docker Engine", "27.3.1") == "nvidia"
    assert gpu_mechanism("Podman Engine", "4.3.1") is None
    assert gpu_mechanism("Podman Engine", "5.4.0") == "cdi"


@pytest.mark.gpu
def test_real_gpu_job(
    podman_socket: str, container_runner: ContainerRunner, busybox_image: str
) -> None:
    if not Path("/dev/nvidia0").exists():
        pytest.skip(
            "no NVIDIA GPU on this machine (no /dev/nvidia0), so no GPU lease can run; "
            "the GPU arguments are checked as data above"
        )
    runner = ContainerRunner(container_runner.node_id, base_url=podman_socket, gpu_device="0")
    manifest = replace(gpu_manifest(), image=busybox_image, command=("ls", "/dev"))
    try:
        _, outcome, output = run_to_end(runner, manifest)
    except RunnerError as error:
        if "cannot attach a GPU" in str(error):
            pytest.skip(f"this engine cannot attach a GPU: {error} {error.remedy}")
        raise
    finally:
        runner.close()
    assert outcome.exit_code == 0 and "nvidia0" in output.text()


def test_resource_names_are_safe_and_distinct() -> None:
    assert resource_name("node1", "lease-1") == "fizz-node1-lease-1"
    odd = resource_name("node1", "lease/1:x")
    assert odd.startswith("fizz-node1-lease-1-x-") and odd != resource_name("node1", "lease-1-x")
    assert len(resource_name("n", "x" * 500)) <= 100


def test_outcome_from_state() -> None:
    exited = {"Status": "exited", "ExitCode": 137, "OOMKilled": False}
    podman_oom = outcome_from_state(exited, stopped_by_us=False, podman=True)
    assert podman_oom is not None and podman_oom.reason is EndReason.OOM_KILLED
    docker_kill = outcome_from_state(exited, stopped_by_us=False, podman=False)
    assert docker_kill is not None and docker_kill.reason is EndReason.EXITED
    ours = outcome_from_state(exited, stopped_by_us=True, podman=True)
    assert ours is not None and ours.reason is EndReason.EXITED
    flagged = outcome_from_state({**exited, "OOMKilled": True}, stopped_by_us=False, podman=False)
    assert flagged is not None and flagged.reason is EndReason.OOM_KILLED
    assert outcome_from_state({"Status": "running"}, stopped_by_us=False, podman=True) is None
