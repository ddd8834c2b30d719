"""Run a lease's job in a locked-down container through the Docker Engine API.

:class:`ContainerRunner` drives Docker Engine, Docker Desktop or Podman's Docker-compatible
service through the ``docker`` SDK (the socket is found as in :mod:`.engine`). Each lease gets
one container and one network, both labelled with :data:`LEASE_LABEL` and :data:`NODE_LABEL`,
so a restarted node finds its own (:meth:`ContainerRunner.adopt`) and removes what it no longer
wants (:meth:`ContainerRunner.remove_orphans`), never touching anything without its label.

The sandbox itself is described and built in :mod:`.container_spec`. In short: CPU, memory
(no extra swap) and pids limits, no capabilities, no new privileges, a read-only root; the
writable ``/scratch`` is a tmpfs sized to the lease's storage (enforced by the kernel, charged
to the memory limit, gone with the container); a bridge network per lease, ports published on
127.0.0.1 only; on Podman, which does not report OOM kills here, an unexplained SIGKILL exit
counts as an OOM kill.

Threads: every method may be called from any thread. Each started or adopted job has two
daemon threads (its output stream and its usage sampler) that end with its container.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable

import docker
import docker.errors
import requests
from docker.models.containers import Container

from .container_spec import (
    container_arguments,
    gpu_mechanism,
    outcome_from_state,
    published_ports,
    resource_name,
    usage_sample,
)
from .engine import ENGINE_REMEDY, EngineUnreachable, connect
from .manifest import JobManifest, Runtime
from .runner import (
    LEASE_LABEL,
    NODE_LABEL,
    STARTUP_LINES,
    EndReason,
    JobHandle,
    JobOutcome,
    JobUsage,
    LogSink,
    RunnerError,
)

__all__ = ["ContainerRunner", "ContainerHandle"]

_MAX_LINE = 16 * 1024
_ENGINE_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException, OSError)


class ContainerHandle:
    """One lease's running container (see :class:`JobHandle`). Thread-safe."""

    def __init__(
        self,
        client: docker.DockerClient,
        container: Container,
        lease_id: str,
        *,
        network: str,
        podman: bool,
        stats_interval: float,
    ) -> None:
        self._client = client
        self._container_id = str(container.id)
        self._network = network
        self._lease_id = lease_id
        self._ports = published_ports(container.attrs)
        self._podman = podman
        self._stats_interval = stats_interval
        self._lock = threading.RLock()
        self._stop_lock = threading.Lock()
        self._log_ended = threading.Event()
        self._ended = threading.Event()  # the container ended or was stopped: sampling stops
        self._usage = JobUsage()
        self._outcome: JobOutcome | None = None
        self._final: JobOutcome | None = None
        self._stopping: JobOutcome | None = None
        self._stopped_by_us = False
        self._threads: list[threading.Thread] = []

    @property
    def lease_id(self) -> str:
        return self._lease_id

    @property
    def container_id(self) -> str:
        return self._container_id

    @property
    def ports(self) -> dict[int, int]:
        return dict(self._ports)

    def follow(self, on_output: LogSink, *, tail: int | str = "all") -> None:
        """Start the daemon threads that stream output to ``on_output`` (from ``tail`` lines
        back) and sample usage every ``stats_interval`` seconds; both end with the container."""
        for target, args in ((self._follow_logs, (on_output, tail)), (self._sample_loop, ())):
            thread = threading.Thread(
                target=target, args=args, name=f"fizz-{target.__name__}-{self._lease_id}"
            )
            thread.daemon = True
            thread.start()
            self._threads.append(thread)

    def _follow_logs(self, on_output: LogSink, tail: int | str) -> None:
        pending = b""
        try:
            container = self._client.containers.get(self._container_id)
            stream = container.logs(stream=True, follow=True, stdout=True, stderr=True, tail=tail)
            for chunk in stream:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                if len(pending) > _MAX_LINE:  # a job that never ends its line is cut, not held
                    lines.append(pending)
                    pending = b""
                for line in lines:
                    on_output(line.decode("utf-8", "replace").rstrip("\r"))
            if pending:
                on_output(pending.decode("utf-8", "replace").rstrip("\r"))
        except _ENGINE_ERRORS:
            pass  # the container is gone or the engine went away; outcome() tells which
        except Exception:  # noqa: BLE001 - a failing sink must not kill the node; stop streaming
            pass
        finally:
            self._log_ended.set()

    def _sample_loop(self) -> None:
        while not self._ended.is_set():
            self._sample()
            if self._log_ended.wait(self._stats_interval):
                self._ended.wait(0.5)  # the log ends as the container ends: stop sampling soon
                if self.outcome() is not None:
                    return

    def _sample(self) -> None:
        try:
            stats = self._client.api.stats(self._container_id, stream=False, one_shot=True)
        except (*_ENGINE_ERRORS, ValueError):  # an ended container answers with an empty body
            return
        if not stats.get("cpu_stats"):
            return
        sample = usage_sample(stats)
        with self._lock:
            old = self._usage
            self._usage = JobUsage(  # counters only grow; a late, partial sample never lowers them
                cpu_seconds=max(old.cpu_seconds, sample.cpu_seconds),
                peak_memory_bytes=max(old.peak_memory_bytes, sample.peak_memory_bytes),
                bytes_in=max(old.bytes_in, sample.bytes_in),
                bytes_out=max(old.bytes_out, sample.bytes_out),
            )

    def outcome(self) -> JobOutcome | None:
        with self._lock:
            if self._final is not None or self._outcome is not None:
                return self._final or self._outcome
            try:
                state = self._client.api.inspect_container(self._container_id)["State"]
            except docker.errors.NotFound:
                self._outcome = JobOutcome(EndReason.FAILED, None, "its container disappeared")
            except _ENGINE_ERRORS:
                return None  # the engine did not answer: the job may well still run
            else:
                self._outcome = outcome_from_state(
                    state, stopped_by_us=self._stopped_by_us, podman=self._podman
                )
            if self._outcome is not None:
                self._ended.set()
            return self._outcome

    def wait(self, timeout: float | None = None) -> JobOutcome | None:
        """Block until the job ends (and its output has reached ``on_output``, for up to 2 s
        more) or ``timeout`` seconds pass; ``None`` if it still runs."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            outcome = self.outcome()
            if outcome is not None:
                self._log_ended.wait(2.0)
                return outcome
            remaining = 0.5 if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                return None
            if self._log_ended.is_set():  # log stream gone but still running: poll gently
                time.sleep(min(0.2, remaining))
            else:
                self._log_ended.wait(min(0.5, remaining))

    def usage(self) -> JobUsage:
        if not self._ended.is_set():
            self._sample()
        with self._lock:
            return self._usage

    def stop(self, grace: float = 5.0, reason: EndReason = EndReason.STOPPED) -> JobOutcome:
        # One stop at a time; outcome() and usage() stay answerable while it waits for the job.
        with self._stop_lock:
            if self._final is not None:
                return self._final
            # A retry after a failed removal keeps the outcome of the first attempt.
            outcome = self._stopping or self.outcome()
            if outcome is None:
                self._sample()  # the last usage figures: stats vanish with the container
                with self._lock:
                    self._stopped_by_us = True
                outcome = self._terminate(grace, reason)
            self._stopping = outcome
            self._ended.set()
            self._remove()
            with self._lock:
                self._final = outcome
        for thread in self._threads:
            thread.join(timeout=2)
        return outcome

    def _terminate(self, grace: float, reason: EndReason) -> JobOutcome:
        api = self._client.api
        try:
            if grace > 0:  # the engine sends SIGTERM, then SIGKILL after the timeout
                api.stop(self._container_id, timeout=max(1, math.ceil(grace)))
            else:
                api.kill(self._container_id)
            code = api.inspect_container(self._container_id)["State"].get("ExitCode")
        except docker.errors.NotFound:
            code = None
        except _ENGINE_ERRORS as error:
            raise RunnerError(
                f"Could not stop the container of lease {self._lease_id}: {error}", ENGINE_REMEDY
            ) from error
        detail = "its lease ran out" if reason is EndReason.DEADLINE else "stopped on request"
        return JobOutcome(reason, None if code is None else int(code), detail)

    def _remove(self) -> None:
        try:
            try:
                self._client.api.remove_container(self._container_id, v=True, force=True)
            except docker.errors.NotFound:
                pass
            _remove_network(self._client, self._network)
        except _ENGINE_ERRORS as error:
            raise RunnerError(
                f"Could not remove the container of lease {self._lease_id}: {error}",
                ENGINE_REMEDY,
            ) from error


def _remove_network(client: docker.DockerClient, name: str) -> None:
    try:
        client.api.remove_network(name)
    except docker.errors.NotFound:
        pass


class ContainerRunner:
    """The container runtime (see :class:`JobRunner`). Synchronous and thread-safe.

    Args:
        node_id: this node's instance id; every container and network it creates carries it
            in :data:`NODE_LABEL`, and it only ever touches those.
        base_url: the engine's API address; ``None`` finds it (``DOCKER_HOST`` first).
        pids_limit: most processes and threads one job may have.
        gpu_device: the NVIDIA GPU (index or UUID) GPU leases get; ``None`` when none is lent.
        stats_interval: seconds between usage samples of a running job.
        timeout: seconds one engine request may take (pulls stream and are not cut by it).
    """

    runtime = Runtime.CONTAINER

    def __init__(
        self,
        node_id: str,
        *,
        base_url: str | None = None,
        pids_limit: int = 256,
        gpu_device: str | None = None,
        stats_interval: float = 1.0,
        timeout: float = 60.0,
        ping_timeout: float = 1.0,
    ) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", node_id):
            raise ValueError(f"node_id must be 1-64 letters, digits, '_', '.' or '-': {node_id!r}")
        self.node_id = node_id
        self._base_url = base_url
        self._pids_limit = pids_limit
        self._gpu_device = gpu_device
        self._stats_interval = stats_interval
        self._timeout = timeout
        self._ping_timeout = ping_timeout
        self._lock = threading.Lock()
        self._client: docker.DockerClient | None = None
        self._probe: docker.DockerClient | None = None
        self._podman = False
        self._gpu_attach: str | None = None

    # ---- engine -----------------------------------------------------------------------------

    def _engine(self) -> docker.DockerClient:
        """The client, connecting on first use. Raises RunnerError when no engine answers."""
        with self._lock:
            if self._client is None:
                try:
                    found = connect(self._base_url, timeout=self._ping_timeout)
                except EngineUnreachable as error:
                    raise RunnerError(
                        f"No container engine answers: {error}.", ENGINE_REMEDY
                    ) from error
                self._probe = found.client
                self._client = docker.DockerClient(
                    base_url=found.endpoint,
                    timeout=self._timeout,
                    version=found.client.api.api_version,
                    max_pool_size=64,
                )
                self._podman = found.is_podman
                self._gpu_attach = gpu_mechanism(found.name, found.version)
            return self._client

    def available(self) -> bool:
        """Whether the engine answers a ping now (at most ``ping_timeout`` per endpoint)."""
        try:
            self._engine()
            assert self._probe is not None
            return bool(self._probe.ping())
        except Exception:  # noqa: BLE001 - any failure means "not available", never an error
            return False

    def close(self) -> None:
        """Close the engine connections (running jobs are left running)."""
        with self._lock:
            for client in (self._client, self._probe):
                if client is not None:
                    client.close()
            self._client = self._probe = None

    def _labels(self, lease_id: str | None = None) -> list[str]:
        labels = [f"{NODE_LABEL}={self.node_id}"]
        return labels + [f"{LEASE_LABEL}={lease_id}"] if lease_id is not None else labels

    # ---- JobRunner --------------------------------------------------------------------------

    def prepare(self, lease_id: str, manifest: JobManifest, log: LogSink) -> None:
        """Make sure the image is here: nothing to do when it is, else pull it, logging
        progress. Raises :class:`RunnerError` naming the image and the cause."""
        log(STARTUP_LINES[0])
        client = self._engine()
        log(STARTUP_LINES[1])
        try:
            client.images.get(manifest.image)
            log(f"Container image {manifest.image} is already present.")
            return
        except docker.errors.ImageNotFound:
            pass
        except _ENGINE_ERRORS as error:
            raise RunnerError(f"The container engine failed: {error}", ENGINE_REMEDY) from error
        self._pull(client, manifest.image, log)

    def _pull(self, client: docker.DockerClient, image: str, log: LogSink) -> None:
        layers: dict[str, tuple[int, int]] = {}
        shown = -1
        problem = f"Could not pull container image {image}"
        remedy = "Check the image name, that it is public, and that this computer is online."
        try:
            # An empty auth config: the owner's registry credentials never serve a tenant's pull.
            for event in client.api.pull(image, stream=True, decode=True, auth_config={}):
                if event.get("error"):
                    raise RunnerError(f"{problem}: {str(event['error'])[:400]}", remedy)
                detail = event.get("progressDetail") or {}
                if event.get("id") and detail.get("total"):
                    layers[str(event["id"])] = (int(detail.get("current", 0)), int(detail["total"]))
                    done = sum(current for current, _ in layers.values())
                    percent = min(100, 100 * done // max(1, sum(t for _, t in layers.values())))
                    if percent >= shown + 10:
                        shown = percent
                        log(f"{STARTUP_LINES[1]} {percent}%")
            client.images.get(image)
        except docker.errors.ImageNotFound as error:
            raise RunnerError(f"{problem}: the engine did not keep it", remedy) from error
        except _ENGINE_ERRORS as error:
            raise RunnerError(f"{problem}: {error}", remedy) from error
        log(f"Container image {image} pulled.")

    def start(
        self, lease_id: str, manifest: JobManifest, log: LogSink, on_output: LogSink
    ) -> ContainerHandle:
        """Create and start the lease's network and container; remove both and raise
        :class:`RunnerError` if any step fails. Call :meth:`prepare` first."""
        client = self._engine()
        name = resource_name(self.node_id, lease_id)
        labels = {LEASE_LABEL: lease_id, NODE_LABEL: self.node_id}
        created: list[Callable[[], None]] = []
        step = "prepare the container"
        try:
            log(STARTUP_LINES[2])
            image = client.images.get(manifest.image)
            volumes = list((image.attrs.get("Config") or {}).get("Volumes") or {})
            arguments = container_arguments(
                lease_id,
                manifest,
                node_id=self.node_id,
                network=name,
                pids_limit=self._pids_limit,
                gpu_device=self._gpu_device,
                gpu_attach=self._gpu_attach,
                image_volumes=volumes,
            )
            step = "create its network"
            client.networks.create(
                name,
                driver="bridge",
                labels=labels,
                options={"com.docker.network.bridge.enable_icc": "false"},
                check_duplicate=True,
            )
            created.append(lambda: _remove_network(client, name))
            step = "create the container"
            container = client.containers.create(name=name, **arguments)
            created.append(lambda: client.api.remove_container(container.id, v=True, force=True))
            log(STARTUP_LINES[3])
            step = "start the container"
            container.start()
            log(STARTUP_LINES[4])
            container.reload()
            handle = ContainerHandle(
                client,
                container,
                lease_id,
                network=name,
                podman=self._podman,
                stats_interval=self._stats_interval,
            )
            missing = {port.port for port in manifest.expose} - set(handle.ports)
            if missing:
                step = "publish its ports"
                raise RunnerError(f"the engine published no 127.0.0.1 port for {sorted(missing)}")
        except (*_ENGINE_ERRORS, RunnerError) as error:
            for undo in reversed(created):
                try:
                    undo()
                except _ENGINE_ERRORS:
                    pass  # already gone; remove_orphans() catches anything left
            if isinstance(error, docker.errors.ImageNotFound):
                raise RunnerError(
                    f"Container image {manifest.image} is not here.", "Prepare the lease first."
                ) from error
            remedy = error.remedy if isinstance(error, RunnerError) else ""
            if isinstance(error, (requests.exceptions.ConnectionError, OSError)):
                remedy = ENGINE_REMEDY
            message = getattr(error, "explanation", None) or str(error)
            raise RunnerError(
                f"Could not {step} for lease {lease_id}: {message}"[:600], remedy
            ) from error
        handle.follow(on_output)
        log(STARTUP_LINES[5])
        return handle

    def adopt(self, on_output: Callable[[str], LogSink]) -> list[JobHandle]:
        """Return handles for this node's containers (after a crash), following each one's
        last 100 output lines on. Containers that ended while the node was down are included:
        their ``outcome()`` is already set; stop them to remove them."""
        client = self._engine()
        handles: list[JobHandle] = []
        try:
            containers = client.containers.list(all=True, filters={"label": self._labels()})
        except _ENGINE_ERRORS as error:
            message = f"Could not list this node's containers: {error}"
            raise RunnerError(message, ENGINE_REMEDY) from error
        for container in containers:
            lease_id = container.labels.get(LEASE_LABEL)
            if not lease_id or container.labels.get(NODE_LABEL) != self.node_id:
                continue
            handle = ContainerHandle(
                client,
                container,
                lease_id,
                network=resource_name(self.node_id, lease_id),
                podman=self._podman,
                stats_interval=self._stats_interval,
            )
            handle.follow(on_output(lease_id), tail=100)
            handles.append(handle)
        return handles

    def remove_orphans(self, keep: set[str]) -> list[str]:
        """Remove this node's containers and networks whose lease is not in ``keep``; return
        those lease ids (sorted). Never touches anything without this node's label."""
        client = self._engine()
        removed: set[str] = set()
        try:
            for container in client.containers.list(all=True, filters={"label": self._labels()}):
                lease_id = container.labels.get(LEASE_LABEL, "")
                if container.labels.get(NODE_LABEL) == self.node_id and lease_id not in keep:
                    client.api.remove_container(container.id, v=True, force=True)
                    removed.add(lease_id)
            for network in client.networks.list(filters={"label": self._labels()}):
                network_labels = network.attrs.get("Labels") or {}
                lease_id = network_labels.get(LEASE_LABEL, "")
                if network_labels.get(NODE_LABEL) == self.node_id and lease_id not in keep:
                    _remove_network(client, str(network.name))
                    removed.add(lease_id)
        except _ENGINE_ERRORS as error:
            message = f"Could not remove orphaned containers: {error}"
            raise RunnerError(message, ENGINE_REMEDY) from error
        return sorted(removed)
