"""The service manifest a lease brings, as one node needs it, and the rules it must pass.

The tenant sends the real network's ``ServiceManifest`` (spheron-network.md 6.2): ``name``,
``image``, ``command``, ``args``, ``env`` as ``"K=V"`` strings, ``resources`` with CPU in
millicores, memory and storage in bytes (all as strings under ``val``), GPU units and model
attributes, ``expose`` and ``count``. This client adds one field, ``runtime``: ``container``
(the default) or ``wasm``, whose module travels base64-encoded in ``wasm_module``.

:func:`parse_manifest` turns that JSON into a :class:`JobManifest` or raises
:class:`ManifestError` naming the field and the fix. It refuses, before anything runs, every
request that would weaken the sandbox (privileged mode, host mounts, host networking,
devices, added capabilities) and any field it does not know: a stranger's job gets exactly
what this module understands and nothing else. :func:`check_fits` then refuses a manifest
that asks for more than the node offers.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..errors import UserFacingError

__all__ = [
    "Runtime",
    "ExposedPort",
    "JobManifest",
    "ManifestError",
    "Capacity",
    "parse_manifest",
    "parse_resources",
    "check_fits",
    "MAX_WASM_MODULE_BYTES",
]

MAX_WASM_MODULE_BYTES = 32 * 1024 * 1024
"""Largest WebAssembly module a manifest may carry (decoded)."""

_MAX_ENV = 256
_MAX_ARGS = 256
_MAX_TEXT = 4096
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# An image reference: [registry[:port]/]path[:tag][@digest], no spaces or shell characters.
_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/:@+]{0,254}$")
_GPU_MODEL_KEY = re.compile(r"^vendor/nvidia/model/([a-z0-9\-]+)$")

# Requests that would weaken the sandbox. They are not part of the real manifest, but a
# hostile tenant may try them; each gets its own message instead of "unknown field".
_FORBIDDEN = {
    "privileged": "privileged containers are never run on a Fizz node",
    "network_mode": "a job cannot choose its network; it gets an isolated one",
    "host_network": "host networking is never given to a job",
    "network": "a job cannot choose its network; it gets an isolated one",
    "volumes": "host folders are never mounted into a job",
    "binds": "host folders are never mounted into a job",
    "mounts": "host folders are never mounted into a job",
    "host_path": "host folders are never mounted into a job",
    "devices": "host devices are never passed to a job",
    "device_requests": "GPUs are requested through resources.gpu, not devices",
    "cap_add": "added Linux capabilities are never given to a job",
    "capabilities": "added Linux capabilities are never given to a job",
    "security_opt": "a job cannot change its security options",
    "pid_mode": "a job cannot share the host's processes",
    "ipc_mode": "a job cannot share the host's IPC namespace",
    "user": "a job cannot choose the user it runs as",
    "sysctls": "a job cannot change kernel settings",
}

# Real ServiceManifest fields this node accepts but does not act on (the gateway handles them).
_IGNORED_TOP = {"credentials", "pull_policy", "params"}
_IGNORED_RESOURCES = {"id", "endpoints"}
_IGNORED_EXPOSE = {
    "externalPort",
    "service",
    "global",
    "hosts",
    "httpOptions",
    "ip",
    "endpointSequenceNumber",
    "portRange",
    "portRangeAs",
    "usePublicPort",
}


class Runtime(StrEnum):
    CONTAINER = "container"
    WASM = "wasm"


@dataclass(frozen=True)
class ExposedPort:
    port: int
    """The port the job listens on inside its sandbox."""
    proto: str = "tcp"


@dataclass(frozen=True)
class JobManifest:
    """One service of a lease, validated. Sizes are exact integers; nothing here is trusted
    until :func:`check_fits` has compared it with the node's offer."""

    name: str
    image: str
    runtime: Runtime = Runtime.CONTAINER
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cpu_millicores: int = 1000
    memory_bytes: int = 512 * 1024**2
    storage_bytes: int = 1024**3
    gpu_units: int = 0
    gpu_model: str | None = None
    expose: tuple[ExposedPort, ...] = ()
    count: int = 1
    wasm_module: bytes | None = field(default=None, repr=False)


class ManifestError(UserFacingError):
    """The manifest is refused. ``field`` names the offending field (dotted), ``code`` is a
    short reason the gateway can pass on: ``invalid``, ``forbidden`` or ``exceeds_offer``."""

    def __init__(self, message: str, remedy: str = "", *, field: str, code: str) -> None:
        super().__init__(message, remedy)
        self.field = field
        self.code = code


@dataclass(frozen=True)
class Capacity:
    """What the node can still give a new lease (the offer minus running leases)."""

    cpu_millicores: int
    memory_bytes: int
    storage_bytes: int
    gpu_units: int = 0
    gpu_model: str | None = None
    runtimes: frozenset[Runtime] = frozenset({Runtime.CONTAINER, Runtime.WASM})


def _invalid(path: str, problem: str, remedy: str = "") -> ManifestError:
    return ManifestError(f"Manifest field {path}: {problem}.", remedy, field=path, code="invalid")


def _check_keys(data: Mapping[str, Any], path: str, allowed: set[str], ignored: set[str]) -> None:
    for key in data:
        # An empty or odd key is still named, quoted, so the message points at it.
        shown = key if isinstance(key, str) and key.isprintable() and key.strip() else repr(key)
        name = f"{path}.{shown}" if path else shown
        if key in _FORBIDDEN:
            raise ManifestError(
                f"Manifest field {name} is refused: {_FORBIDDEN[key]}.",
                "Remove it; the node runs every job in its own sandbox.",
                field=name,
                code="forbidden",
            )
        if key not in allowed and key not in ignored:
            raise _invalid(name, "unknown field", "Remove it or check its spelling.")


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _invalid(path, f"expected an object, got {type(value).__name__}")
    return value


def _text(value: Any, path: str, *, limit: int = _MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise _invalid(path, f"expected text, got {type(value).__name__}")
    if len(value) > limit or "\x00" in value:
        raise _invalid(path, f"longer than {limit} characters or contains a NUL byte")
    return value


def _texts(value: Any, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _invalid(path, f"expected a list of text, got {type(value).__name__}")
    if len(value) > _MAX_ARGS:
        raise _invalid(path, f"more than {_MAX_ARGS} entries")
    return tuple(_text(item, f"{path}[{index}]") for index, item in enumerate(value))


def _quantity(value: Any, path: str, *, minimum: int) -> int:
    """Read the real manifest's ``{"val": "<integer>"}`` (or a bare integer)."""
    if isinstance(value, Mapping):
        _check_keys(value, path, {"val"}, set())
        value = value.get("val")
    if isinstance(value, bool):
        raise _invalid(path, "expected an integer, got a boolean")
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,20}", value.strip()):
        value = int(value.strip())
    if not isinstance(value, int):
        raise _invalid(path, f"expected a whole number, got {value!r}"[:200])
    if value < minimum:
        raise _invalid(path, f"must be at least {minimum}, got {value}")
    return value


def _env(value: Any) -> dict[str, str]:
    env: dict[str, str] = {}
    for index, entry in enumerate(_texts(value, "env")[:_MAX_ENV]):
        name, sep, content = entry.partition("=")
        if not sep or not _ENV_NAME.match(name):
            raise _invalid(f"env[{index}]", "expected NAME=value", "Write it as NAME=value.")
        env[name] = content
    return env


def _resources(data: Mapping[str, Any]) -> dict[str, Any]:
    _check_keys(data, "resources", {"cpu", "memory", "storage", "gpu"}, _IGNORED_RESOURCES)
    out: dict[str, Any] = {}
    if "cpu" in data:
        cpu = _mapping(data["cpu"], "resources.cpu")
        _check_keys(cpu, "resources.cpu", {"units"}, {"attributes"})
        out["cpu_millicores"] = _quantity(cpu.get("units"), "resources.cpu.units", minimum=1)
    if "memory" in data:
        memory = _mapping(data["memory"], "resources.memory")
        _check_keys(memory, "resources.memory", {"size"}, {"attributes"})
        out["memory_bytes"] = _quantity(
            memory.get("size"), "resources.memory.size", minimum=4 * 1024**2
        )
    if "storage" in data:
        storage = data["storage"]
        volumes = storage if isinstance(storage, list) else [storage]
        total = 0
        for index, volume in enumerate(volumes):
            path = f"resources.storage[{index}]"
            volume = _mapping(volume, path)
            _check_keys(volume, path, {"size"}, {"name", "attributes"})
            total += _quantity(volume.get("size"), f"{path}.size", minimum=0)
        out["storage_bytes"] = total
    if "gpu" in data:
        gpu = _mapping(data["gpu"], "resources.gpu")
        _check_keys(gpu, "resources.gpu", {"units", "attributes"}, set())
        out["gpu_units"] = _quantity(gpu.get("units"), "resources.gpu.units", minimum=0)
        for index, attribute in enumerate(gpu.get("attributes") or []):
            attribute = _mapping(attribute, f"resources.gpu.attributes[{index}]")
            match = _GPU_MODEL_KEY.match(str(attribute.get("key", "")))
            if match and str(attribute.get("value", "")).lower() == "true":
                out["gpu_model"] = match.group(1)
    return out


def parse_resources(data: Any) -> JobManifest:
    """Validate a lease offer's ``resources`` alone (the real manifest's shape) and return a
    placeholder manifest holding those sizes, for :func:`check_fits` before the manifest comes.

    Raises:
        ManifestError: as :func:`parse_manifest`, naming ``resources.<field>``.
    """
    sizes = _resources(_mapping(data, "resources"))
    return JobManifest(name="offer", image="", **sizes)


def _expose(value: Any) -> tuple[ExposedPort, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > 16:
        raise _invalid("expose", "expected a list of at most 16 ports")
    ports: list[ExposedPort] = []
    for index, entry in enumerate(value):
        path = f"expose[{index}]"
        entry = _mapping(entry, path)
        _check_keys(entry, path, {"port", "proto"}, _IGNORED_EXPOSE)
        port = _quantity(entry.get("port"), f"{path}.port", minimum=1)
        if port > 65535:
            raise _invalid(f"{path}.port", f"{port} is not a TCP port (1-65535)")
        if port in (80, 443):
            raise ManifestError(
                f"Manifest field {path}.port: Fizz nodes cannot serve port {port}.",
                "Listen on another port (for example 8080); the gateway gives it a public port.",
                field=f"{path}.port",
                code="invalid",
            )
        proto = str(entry.get("proto", "tcp")).lower()
        if proto != "tcp":
            raise _invalid(f"{path}.proto", f"{proto!r} is not carried by the tunnel", "Use TCP.")
        if any(existing.port == port for existing in ports):
            raise _invalid(f"{path}.port", f"port {port} is exposed twice")
        ports.append(ExposedPort(port=port))
    return tuple(ports)


def _wasm_module(value: Any) -> bytes:
    encoded = _text(value, "wasm_module", limit=(MAX_WASM_MODULE_BYTES * 4) // 3 + 4)
    try:
        module = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid("wasm_module", "not valid base64") from None
    if not module.startswith(b"\x00asm"):
        raise _invalid("wasm_module", "not a WebAssembly binary (no \\0asm header)")
    return module


def parse_manifest(data: Any) -> JobManifest:
    """Validate one service manifest (decoded JSON) and return it.

    Raises:
        ManifestError: the first problem, naming the field, with a remedy; ``code`` is
            ``forbidden`` for sandbox-weakening requests and ``invalid`` otherwise.
    """
    data = _mapping(data, "(manifest)")
    allowed = {"name", "image", "runtime", "command", "args", "env", "resources", "expose"}
    _check_keys(data, "", allowed | {"count", "wasm_module"}, _IGNORED_TOP)
    name = _text(data.get("name"), "name", limit=63)
    if not _NAME.match(name):
        raise _invalid("name", f"{name!r} is not a service name", "Use a-z, 0-9 and dashes.")
    try:
        runtime = Runtime(str(data.get("runtime", Runtime.CONTAINER.value)))
    except ValueError:
        raise _invalid("runtime", "expected 'container' or 'wasm'") from None
    image = _text(data.get("image", ""), "image", limit=255)
    if runtime is Runtime.CONTAINER and not _IMAGE.match(image):
        raise _invalid("image", f"{image!r} is not an image reference", "Use name[:tag].")
    count = _quantity(data.get("count", 1), "count", minimum=1)
    if count != 1:
        raise _invalid("count", f"a Fizz node runs one replica, got {count}", "Set count to 1.")
    module = None
    if runtime is Runtime.WASM:
        if "wasm_module" not in data:
            raise _invalid(
                "wasm_module", "missing", "A wasm job carries its module base64-encoded."
            )
        module = _wasm_module(data["wasm_module"])
    elif "wasm_module" in data:
        raise _invalid("wasm_module", "only a wasm job carries a module", "Set runtime: wasm.")
    resources = _resources(_mapping(data.get("resources", {}), "resources"))
    manifest = JobManifest(
        name=name,
        image=image,
        runtime=runtime,
        command=_texts(data.get("command"), "command"),
        args=_texts(data.get("args"), "args"),
        env=_env(data.get("env")),
        expose=_expose(data.get("expose")),
        count=count,
        wasm_module=module,
        **resources,
    )
    if manifest.gpu_units > 1:
        raise ManifestError(
            "Manifest field resources.gpu.units: a Fizz node offers one GPU, "
            f"got {manifest.gpu_units}.",
            "Ask for at most one GPU per node.",
            field="resources.gpu.units",
            code="exceeds_offer",
        )
    if runtime is Runtime.WASM and (manifest.gpu_units or manifest.expose):
        raise _invalid("runtime", "a wasm job cannot use a GPU or expose ports", "Use a container.")
    return manifest


def _exceeds(field_name: str, what: str, asked: int, offered: int, unit: str) -> ManifestError:
    return ManifestError(
        f"The lease asks for {asked}{unit} of {what} but this node offers {offered}{unit}.",
        "Send it to a node with more free capacity.",
        field=field_name,
        code="exceeds_offer",
    )


def check_fits(manifest: JobManifest, capacity: Capacity) -> None:
    """Refuse ``manifest`` when it asks for more than ``capacity`` (or a runtime it lacks).

    Raises:
        ManifestError: with ``code == "exceeds_offer"``, naming the resource.
    """
    if manifest.runtime not in capacity.runtimes:
        raise ManifestError(
            f"This node cannot run {manifest.runtime.value} jobs right now.",
            "Send it to a node whose container engine is running.",
            field="runtime",
            code="exceeds_offer",
        )
    mib = 1024**2
    if manifest.cpu_millicores > capacity.cpu_millicores:
        raise _exceeds(
            "resources.cpu.units", "CPU", manifest.cpu_millicores, capacity.cpu_millicores, "m"
        )
    if manifest.memory_bytes > capacity.memory_bytes:
        raise _exceeds(
            "resources.memory.size",
            "memory",
            manifest.memory_bytes // mib,
            capacity.memory_bytes // mib,
            " MiB",
        )
    if manifest.storage_bytes > capacity.storage_bytes:
        raise _exceeds(
            "resources.storage",
            "storage",
            manifest.storage_bytes // mib,
            capacity.storage_bytes // mib,
            " MiB",
        )
    if manifest.gpu_units > capacity.gpu_units:
        raise _exceeds("resources.gpu.units", "GPU", manifest.gpu_units, capacity.gpu_units, "")
    if manifest.gpu_units and manifest.gpu_model and manifest.gpu_model != capacity.gpu_model:
        raise ManifestError(
            f"The lease asks for a {manifest.gpu_model} GPU but this node has "
            f"{capacity.gpu_model or 'none'}.",
            "Send it to a node with that GPU.",
            field="resources.gpu.attributes",
            code="exceeds_offer",
        )
