"""Image pulls through the container runner: real Podman pulling from a real local registry.

No registry on the internet is reachable here, so ``devnet.engine.registry.LocalRegistry``
serves busybox images built on this machine over the Distribution API, on 127.0.0.1, which
the test Podman service may reach over plain HTTP (tests/conftest.py). Every image a test
pulls is removed from the engine afterwards, even when the test fails.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator

import docker
import docker.errors
import pytest

from devnet.engine.registry import LocalRegistry
from fizz_app.core.jobs.container import ContainerRunner
from fizz_app.core.jobs.runner import STARTUP_LINES, EndReason, RunnerError

from .conftest import MIB, Output, leftovers, new_lease, shell_manifest

PROGRESS = re.compile(rf"^{re.escape(STARTUP_LINES[1])} (\d+)%$")


@pytest.fixture
def pulled(engine_client: docker.DockerClient) -> Iterator[list[str]]:
    """Images the test pulls (append their references); removed from the engine afterwards."""
    images: list[str] = []
    yield images
    for image in images:
        try:
            engine_client.images.remove(image, force=True)
        except docker.errors.NotFound:  # never pulled (Podman says "image not known")
            pass


def unique_name() -> str:
    return f"fizz/pull-{uuid.uuid4().hex[:8]}"


def assert_absent(client: docker.DockerClient, image: str) -> None:
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(image)


def test_prepare_pulls_a_missing_image_with_progress_then_it_runs(
    container_runner: ContainerRunner,
    engine_client: docker.DockerClient,
    pulled: list[str],
) -> None:
    # Throttled so the pull lasts a few seconds: Podman reports download progress once a second.
    with LocalRegistry(throttle=2 * MIB) as registry:
        name = unique_name()
        registry.add_image(name, "1", padding_bytes=5 * MIB)
        image = f"{registry.address}/{name}:1"
        pulled.append(image)
        assert_absent(engine_client, image)
        lease_id, log = new_lease(), Output()

        container_runner.prepare(lease_id, shell_manifest(image, "echo pulled-and-ran"), log)

        assert log.lines[:2] == list(STARTUP_LINES[:2])
        assert log.lines[-1] == f"Container image {image} pulled."
        percents = [int(m[1]) for line in log.lines if (m := PROGRESS.match(line))]
        assert percents, f"no progress line in {log.lines}"
        assert percents == sorted(percents) and all(0 <= p <= 100 for p in percents)
        assert engine_client.images.get(image).attrs["Config"]["Labels"] == {
            "fizz.test.registry": "1"
        }
        paths = [request.path for request in registry.requests()]
        assert f"/v2/{name}/manifests/1" in paths

        output = Output()
        handle = container_runner.start(
            lease_id, shell_manifest(image, "echo pulled-and-ran"), log, output
        )
        try:
            outcome = handle.wait(30)
            assert outcome is not None and outcome.reason is EndReason.EXITED
            assert outcome.exit_code == 0
            assert "pulled-and-ran" in output.lines
        finally:
            handle.stop()
        assert leftovers(engine_client, lease_id) == []

        # Present now: a second lease with the same image does not ask the registry again.
        asked = len(registry.requests())
        log = Output()
        container_runner.prepare(new_lease(), shell_manifest(image, "true"), log)
        assert log.lines[1:] == [STARTUP_LINES[1], f"Container image {image} is already present."]
        assert len(registry.requests()) == asked


def test_the_session_registry_image_runs_its_own_command(
    container_runner: ContainerRunner,
    engine_client: docker.DockerClient,
    local_registry: LocalRegistry,
    pulled: list[str],
) -> None:
    image = f"{local_registry.address}/fizz/demo-busybox:1"
    pulled.append(image)
    lease_id, log = new_lease(), Output()
    manifest = shell_manifest(image, "id -u; echo from-the-registry")
    container_runner.prepare(lease_id, manifest, log)
    assert log.lines[-1] == f"Container image {image} pulled."
    handle = container_runner.start(lease_id, manifest, log, output := Output())
    try:
        outcome = handle.wait(30)
        assert outcome is not None and outcome.exit_code == 0, output.text()
        assert "from-the-registry" in output.lines
    finally:
        handle.stop()
    assert leftovers(engine_client, lease_id) == []


def test_a_missing_tag_fails_fast_naming_the_image_and_the_cause(
    container_runner: ContainerRunner,
    engine_client: docker.DockerClient,
    local_registry: LocalRegistry,
    pulled: list[str],
) -> None:
    image = f"{local_registry.address}/fizz/demo-busybox:no-such-tag"
    pulled.append(image)
    log = Output()
    started = time.monotonic()
    with pytest.raises(RunnerError) as caught:
        container_runner.prepare(new_lease(), shell_manifest(image, "true"), log)
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert message.startswith(f"Could not pull container image {image}: ")
    assert "manifest unknown" in message  # the registry's own answer, passed on by the engine
    assert "image name" in caught.value.remedy
    assert not any(PROGRESS.match(line) for line in log.lines)
    assert_absent(engine_client, image)


def test_a_registry_dying_mid_pull_fails_clearly_and_leaves_nothing(
    container_runner: ContainerRunner,
    engine_client: docker.DockerClient,
    pulled: list[str],
) -> None:
    images_before = {image.id for image in engine_client.images.list(all=True)}
    registry = LocalRegistry(throttle=1 * MIB).start()
    try:
        name = unique_name()
        big = registry.add_image(name, "1", padding_bytes=8 * MIB)
        image = f"{registry.address}/{name}:1"
        pulled.append(image)
        padding_blob = f"/v2/{name}/blobs/{big.layer_digests[1]}"

        def kill_when_the_big_layer_streams() -> None:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if any(request.path == padding_blob for request in registry.requests()):
                    time.sleep(0.5)  # let some hundreds of KiB through first
                    break
                time.sleep(0.02)
            registry.close()

        killer = threading.Thread(target=kill_when_the_big_layer_streams, daemon=True)
        killer.start()
        lease_id, log = new_lease(), Output()
        started = time.monotonic()
        with pytest.raises(RunnerError) as caught:
            container_runner.prepare(lease_id, shell_manifest(image, "true"), log)
        killer.join(timeout=20)
        assert time.monotonic() - started < 30
        assert any(request.path == padding_blob for request in registry.requests())
    finally:
        registry.close()

    message = str(caught.value)
    assert message.startswith(f"Could not pull container image {image}: ")
    assert re.search(r"EOF|connection|reset|broken pipe", message, re.IGNORECASE), message
    assert log.lines[-1] != f"Container image {image} pulled."
    assert_absent(engine_client, image)
    assert {i.id for i in engine_client.images.list(all=True)} <= images_before  # no partial
    assert leftovers(engine_client, lease_id) == []
