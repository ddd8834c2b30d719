"""What a lease's container is allowed: the engine arguments, names and state readings.

Everything here is pure (no engine calls), so the limits can be checked without an engine.
:func:`container_arguments` is the whole sandbox of :mod:`.container`:

* CPU quota from millicores, memory limit with no extra swap, a pids limit, no new privileges,
  every capability dropped, a higher OOM score (the job dies before the desktop does), a
  capped log file, and no host mounts, devices or host namespaces.
* Read-only root file system. Writable space is tmpfs: ``/scratch`` sized to the manifest's
  storage and small ``/tmp`` and ``/run`` (plus any VOLUME the image declares, which would
  otherwise become an unsized folder on the host's disk). Trade-off: tmpfs pages are charged to
  the container's memory cgroup, so scratch and memory share the memory limit, but the size is
  enforced by the kernel on every engine and nothing is left on disk after a stop. The
  alternative, volumes with a ``size`` option, needs XFS project quotas (Podman refuses it on
  ext4: "Filesystem does not support Project Quota") or is unsized on Docker's local driver.
* Network: a bridge network of its own per lease, created with ICC disabled. Docker honours
  ``enable_icc=false``; Podman maps it to ``isolate=true``, which only separates *networks*,
  so one network per lease is what keeps leases from reaching each other on both engines. Host
  services bound to 127.0.0.1 stay out of reach (the container's loopback is its own and Linux
  does not route the bridge gateway to the host's loopback). Exposed ports are published on
  127.0.0.1 only, on ports the engine picks (:attr:`ContainerHandle.ports`).
* GPU: one NVIDIA GPU through an ``nvidia`` device request on Docker, a CDI device request on
  Podman >= 5.4 (older Podman ignores device requests, so GPU leases are refused there).

OOM kills: Docker sets ``State.OOMKilled``. Podman 4.3 on this cgroup v1/hybrid host never does
(checked: a 100 MiB allocation under a 32 MiB limit exits 137 with ``OOMKilled: false`` and no
``oom`` event), so on Podman an exit by SIGKILL (137) that this runner did not cause is
reported as :attr:`EndReason.OOM_KILLED`; nothing else inside a container can SIGKILL its PID 1.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from hashlib import sha256
from typing import Any

from docker.types import DeviceRequest, LogConfig

from .manifest import JobManifest
from .runner import LEASE_LABEL, NODE_LABEL, EndReason, JobOutcome, JobUsage, RunnerError

__all__ = [
    "SCRATCH_PATH",
    "SMALL_TMPFS_BYTES",
    "gpu_mechanism",
    "container_arguments",
    "resource_name",
    "published_ports",
    "outcome_from_state",
    "usage_sample",
]

SCRATCH_PATH = "/scratch"
SMALL_TMPFS_BYTES = 16 * 1024**2
"""Size of /tmp and /run (and of each VOLUME the image declares)."""
_MIN_TMPFS_BYTES = 4096  # tmpfs treats size=0 as "no limit"; a zero-storage lease gets a page
_LOG_MAX_SIZE = "10m"


def gpu_mechanism(engine_name: str, engine_version: str | None) -> str | None:
    """How this engine attaches an NVIDIA GPU: ``"nvidia"`` (Docker's device request),
    ``"cdi"`` (Podman >= 5.4) or ``None`` (it cannot, through the Docker API)."""
    if "podman" not in engine_name.lower():
        return "nvidia"
    numbers = [int(part) for part in re.findall(r"\d+", engine_version or "")[:2]]
    return "cdi" if len(numbers) == 2 and tuple(numbers) >= (5, 4) else None


def _tmpfs(size: int, *, exec_: bool) -> str:
    size = max(size, _MIN_TMPFS_BYTES)
    return f"rw,{'exec' if exec_ else 'noexec'},nosuid,nodev,size={size},mode=1777"


def container_arguments(
    lease_id: str,
    manifest: JobManifest,
    *,
    node_id: str,
    network: str,
    pids_limit: int,
    gpu_device: str | None = None,
    gpu_attach: str | None = "nvidia",
    image_volumes: Iterable[str] = (),
) -> dict[str, Any]:
    """Return the keyword arguments for ``DockerClient.containers.create`` that run
    ``manifest`` for ``lease_id`` with every limit of this module applied.

    ``gpu_device`` is the NVIDIA GPU (index or UUID) this node lends, ``None`` without one;
    ``gpu_attach`` comes from :func:`gpu_mechanism`. ``image_volumes`` are the image's VOLUME
    paths, shadowed by sized tmpfs. Raises :class:`RunnerError` for a GPU lease it cannot serve.
    """
    labels = {LEASE_LABEL: lease_id, NODE_LABEL: node_id}
    tmpfs = {path: _tmpfs(SMALL_TMPFS_BYTES, exec_=False) for path in image_volumes}
    tmpfs |= {
        SCRATCH_PATH: _tmpfs(manifest.storage_bytes, exec_=True),
        "/tmp": _tmpfs(SMALL_TMPFS_BYTES, exec_=False),
        "/run": _tmpfs(SMALL_TMPFS_BYTES, exec_=False),
    }
    arguments: dict[str, Any] = {
        "image": manifest.image,
        "entrypoint": list(manifest.command) or None,  # the manifest's command replaces it
        "command": list(manifest.args) or None,
        "environment": dict(manifest.env),
        "hostname": manifest.name,
        "labels": labels,
        "detach": True,
        "network": network,
        "ports": {f"{port.port}/tcp": ("127.0.0.1", None) for port in manifest.expose},
        "nano_cpus": manifest.cpu_millicores * 1_000_000,
        "mem_limit": manifest.memory_bytes,
        "memswap_limit": manifest.memory_bytes,  # equal to the limit: no swap on top
        "pids_limit": pids_limit,
        "oom_score_adj": 500,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "read_only": True,
        "tmpfs": tmpfs,
        "privileged": False,
        "ipc_mode": "private",
        "log_config": LogConfig(type="json-file", config={"max-size": _LOG_MAX_SIZE}),
    }
    if manifest.gpu_units:
        if gpu_device is None:
            raise RunnerError("The lease asks for a GPU but this node lends none.")
        if gpu_attach == "nvidia":
            request = DeviceRequest(
                driver="nvidia", device_ids=[gpu_device], capabilities=[["gpu"]]
            )
        elif gpu_attach == "cdi":
            request = DeviceRequest(driver="cdi", device_ids=[f"nvidia.com/gpu={gpu_device}"])
        else:
            raise RunnerError(
                "This container engine cannot attach a GPU through the Docker API.",
                "Use Docker Engine with the NVIDIA Container Toolkit, or Podman 5.4 or newer.",
            )
        arguments["device_requests"] = [request]
    return arguments


def resource_name(node_id: str, lease_id: str) -> str:
    """The container and network name for a lease (engine-safe, unique per node and lease)."""
    raw = f"fizz-{node_id}-{lease_id}"
    safe = re.sub(r"[^a-zA-Z0-9_.-]", "-", raw)[:80]
    if safe != raw:  # keep names of different leases apart after sanitising or cutting
        safe = f"{safe}-{sha256(raw.encode()).hexdigest()[:10]}"
    return safe


def published_ports(attrs: Mapping[str, Any]) -> dict[int, int]:
    """Container port -> 127.0.0.1 host port, from a container's inspect data."""
    ports: dict[int, int] = {}
    for key, bindings in ((attrs.get("NetworkSettings") or {}).get("Ports") or {}).items():
        for binding in bindings or ():
            if binding.get("HostIp") in ("127.0.0.1", "") and binding.get("HostPort"):
                ports[int(str(key).split("/")[0])] = int(binding["HostPort"])
    return ports


def outcome_from_state(
    state: Mapping[str, Any], *, stopped_by_us: bool, podman: bool
) -> JobOutcome | None:
    """How a container ended, from its inspect ``State``; ``None`` while it runs."""
    status = str(state.get("Status", "")).lower()
    if status in ("running", "paused", "restarting", "removing"):
        return None
    if status in ("created", "configured", "initialized"):
        return JobOutcome(EndReason.FAILED, None, "the container was created but never started")
    code = int(state.get("ExitCode") or 0)
    if state.get("OOMKilled"):
        return JobOutcome(EndReason.OOM_KILLED, code, "killed: it used more than its memory limit")
    if podman and code == 137 and not stopped_by_us:
        # Podman does not report OOM kills here (see the module docstring); a SIGKILL we did
        # not send can only come from the kernel's OOM killer for the container's cgroup.
        return JobOutcome(
            EndReason.OOM_KILLED, code, "killed by SIGKILL, most likely over its memory limit"
        )
    if state.get("Error"):
        return JobOutcome(EndReason.FAILED, code, str(state["Error"])[:500])
    return JobOutcome(EndReason.EXITED, code)


def usage_sample(stats: Mapping[str, Any]) -> JobUsage:
    """Cumulative usage from one ``/containers/{id}/stats`` answer."""
    cpu = (stats.get("cpu_stats") or {}).get("cpu_usage") or {}
    memory = stats.get("memory_stats") or {}
    networks = (stats.get("networks") or {}).values()
    return JobUsage(
        cpu_seconds=int(cpu.get("total_usage") or 0) / 1e9,
        # max_usage is there on Docker with cgroup v1; elsewhere the peak is the highest sample.
        peak_memory_bytes=int(max(memory.get("max_usage") or 0, memory.get("usage") or 0)),
        bytes_in=sum(int(n.get("rx_bytes") or 0) for n in networks),
        bytes_out=sum(int(n.get("tx_bytes") or 0) for n in networks),
    )
