"""Tests for fizz_app.core.hardware: the real probe of this machine, NVML decoding, and the
container engine probe against real unix sockets, a tiny real Docker-API HTTP server and
real Podman.

The NVML module is faked (a ``types.ModuleType``) only because this machine has no NVIDIA GPU;
``test_probe_gpus_with_real_nvml`` runs the real ``pynvml`` where a driver exists.
"""

from __future__ import annotations

import http.server
import json
import os
import platform
import re
import shutil
import socket
import socketserver
import sys
import tempfile
import threading
import types
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest

from fizz_app.core.checks import CheckStatus
from fizz_app.core.hardware import (
    container_engine_endpoints,
    gpu_temperature,
    probe_container_engine,
    probe_cpu,
    probe_gpus,
    probe_hardware,
    probe_memory,
    probe_os,
    probe_storage,
)
from fizz_app.core.report import HardwareReport
from fizz_app.core.requirements import evaluate, load_profile

GIB = 1024**3

# ---- Real probe of this machine -----------------------------------------------------------------


def test_probe_cpu_counts_logical_threads() -> None:
    cpu = probe_cpu()
    assert cpu.threads >= 1
    assert cpu.threads == os.cpu_count()
    assert cpu.cores is None or 1 <= cpu.cores <= cpu.threads
    assert cpu.model
    machine = platform.machine().lower()
    expected_arch = {"amd64": "x86_64", "x64": "x86_64", "aarch64": "arm64"}.get(machine, machine)
    assert cpu.arch == expected_arch
    assert cpu.frequency_mhz is None or cpu.frequency_mhz > 0


def test_probe_memory_total_exceeds_available() -> None:
    memory = probe_memory()
    assert memory.total_bytes > memory.available_bytes > 0


def test_probe_storage_of_a_folder_that_does_not_exist_yet(tmp_path: Path) -> None:
    folder = tmp_path / "not" / "yet" / "there"
    storage = probe_storage(folder)
    assert storage.path == str(folder)
    assert not folder.exists(), "probing must not create the folder"
    assert storage.total_bytes == shutil.disk_usage(tmp_path).total
    assert 0 <= storage.free_bytes <= storage.total_bytes
    mountpoint = Path(storage.mountpoint)
    assert os.path.ismount(mountpoint)
    assert tmp_path.is_relative_to(mountpoint)
    assert os.stat(mountpoint).st_dev == os.stat(tmp_path).st_dev


def test_probe_os_matches_platform() -> None:
    os_info = probe_os()
    assert os_info.system == platform.system()
    assert os_info.kernel == platform.release()
    assert os_info.name
    if os_info.system != "Linux":
        assert os_info.wsl is False


@pytest.mark.skipif(sys.platform != "linux", reason="reads /etc/os-release (Linux only)")
def test_probe_os_names_the_linux_distribution() -> None:
    release = platform.freedesktop_os_release()
    os_info = probe_os()
    assert os_info.name == (release.get("PRETTY_NAME") or release.get("NAME"))
    osrelease = Path("/proc/sys/kernel/osrelease").read_text().lower()
    assert os_info.wsl is ("microsoft" in osrelease or bool(os.environ.get("WSL_DISTRO_NAME")))


def test_probe_hardware_report_round_trips_through_json(tmp_path: Path) -> None:
    report = probe_hardware(tmp_path / "lease-data")
    assert report.cpu.threads == os.cpu_count()
    assert report.storage.path == str(tmp_path / "lease-data")
    assert report.os.system == platform.system()
    assert report.bandwidth.measured is False
    assert report.probe_seconds > 0
    data = json.loads(json.dumps(report.to_dict()))
    assert data["probe_seconds"] == report.probe_seconds
    assert HardwareReport.from_dict(data) == report


def test_probe_hardware_passes_the_nvml_module_through(tmp_path: Path) -> None:
    fake = FakeNvml(gpus=[RTX_4090, A4000])
    report = probe_hardware(tmp_path, nvml=fake.module())
    assert [gpu.name for gpu in report.gpu.gpus] == ["NVIDIA GeForce RTX 4090", "NVIDIA RTX A4000"]
    data = json.loads(json.dumps(report.to_dict()))
    assert [gpu["vram_free_percent"] for gpu in data["gpus"]] == [87.5, 25.0]
    assert HardwareReport.from_dict(data) == report


# ---- NVIDIA GPUs through a fake NVML module -----------------------------------------------------


class FakeNVMLError(Exception):
    """Stands in for ``pynvml.NVMLError``: carries an NVML return code."""

    def __init__(self, value: int) -> None:
        super().__init__(f"NVML error {value}")
        self.value = value


class FakeNVMLErrorLibraryNotFound(FakeNVMLError):
    pass


class FakeNVMLErrorDriverNotLoaded(FakeNVMLError):
    pass


NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_UNKNOWN = 999


@dataclass
class FakeGpu:
    name: str | bytes
    uuid: str | bytes
    pci_device_id: int
    total: int
    free: int
    temperature: int | None
    """``None``: the temperature query raises NOT_SUPPORTED, as on some data-centre boards."""


RTX_4090 = FakeGpu(
    name=b"NVIDIA GeForce RTX 4090",
    uuid=b"GPU-9c8f0c6e-5d5b-6d0e-4b63-3d1e8e1f4090",
    pci_device_id=0x268410DE,
    total=24 * GIB,
    free=21 * GIB,
    temperature=45,
)
A4000 = FakeGpu(
    name="NVIDIA RTX A4000",
    uuid="GPU-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d",
    pci_device_id=0x24B010DE,
    total=16 * GIB,
    free=4 * GIB,
    temperature=None,
)


@dataclass
class FakeNvml:
    """A model of the NVML calls hardware.probe_gpus makes, with a log of what was called."""

    gpus: list[FakeGpu]
    driver: str | bytes = b"565.57.01"
    cuda: int | None = 12040
    """``None``: the CUDA query raises NOT_SUPPORTED."""
    init_error: FakeNVMLError | None = None
    count_error: FakeNVMLError | None = None
    shutdown_error: FakeNVMLError | None = None
    calls: list[str] = field(default_factory=list)

    def module(self) -> types.ModuleType:
        nvml = types.ModuleType("fake_pynvml")
        nvml.NVMLError = FakeNVMLError  # type: ignore[attr-defined]
        nvml.NVMLError_LibraryNotFound = FakeNVMLErrorLibraryNotFound  # type: ignore[attr-defined]
        nvml.NVMLError_DriverNotLoaded = FakeNVMLErrorDriverNotLoaded  # type: ignore[attr-defined]
        nvml.NVML_TEMPERATURE_GPU = 0  # type: ignore[attr-defined]
        for name in dir(self):
            if name.startswith("nvml"):
                setattr(nvml, name, getattr(self, name))
        return nvml

    def nvmlInit(self) -> None:  # noqa: N802 - NVML's names
        self.calls.append("init")
        if self.init_error is not None:
            raise self.init_error

    def nvmlShutdown(self) -> None:  # noqa: N802
        self.calls.append("shutdown")
        if self.shutdown_error is not None:
            raise self.shutdown_error

    def nvmlSystemGetDriverVersion(self) -> str | bytes:  # noqa: N802
        return self.driver

    def nvmlSystemGetCudaDriverVersion(self) -> int:  # noqa: N802
        if self.cuda is None:
            raise FakeNVMLError(NVML_ERROR_NOT_SUPPORTED)
        return self.cuda

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802
        if self.count_error is not None:
            raise self.count_error
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:  # noqa: N802
        return self.gpus[index]

    def nvmlDeviceGetPciInfo(self, handle: FakeGpu) -> types.SimpleNamespace:  # noqa: N802
        return types.SimpleNamespace(pciDeviceId=handle.pci_device_id, busId=b"00000000:01:00.0")

    def nvmlDeviceGetMemoryInfo(self, handle: FakeGpu) -> types.SimpleNamespace:  # noqa: N802
        return types.SimpleNamespace(
            total=handle.total, free=handle.free, used=handle.total - handle.free
        )

    def nvmlDeviceGetTemperature(self, handle: FakeGpu, sensor: int) -> int:  # noqa: N802
        assert sensor == 0, "asks for the GPU die sensor"
        if handle.temperature is None:
            raise FakeNVMLError(NVML_ERROR_NOT_SUPPORTED)
        return handle.temperature

    def nvmlDeviceGetName(self, handle: FakeGpu) -> str | bytes:  # noqa: N802
        return handle.name

    def nvmlDeviceGetUUID(self, handle: FakeGpu) -> str | bytes:  # noqa: N802
        return handle.uuid


def test_probe_gpus_reads_two_gpus() -> None:
    fake = FakeNvml(gpus=[RTX_4090, A4000])
    probe = probe_gpus(fake.module())
    assert probe.status == "ok"
    assert probe.detail == "2 NVIDIA GPUs"
    assert probe.driver_version == "565.57.01"
    assert probe.cuda_version == "12.4"
    first, second = probe.gpus
    assert (first.index, second.index) == (0, 1)
    assert first.name == "NVIDIA GeForce RTX 4090"  # decoded from bytes
    assert first.uuid == "GPU-9c8f0c6e-5d5b-6d0e-4b63-3d1e8e1f4090"
    assert (first.pci_device_id, first.pci_vendor_id) == ("2684", "10de")
    assert (first.vram_total_bytes, first.vram_free_bytes) == (24 * GIB, 21 * GIB)
    assert first.temperature_c == 45
    assert second.name == "NVIDIA RTX A4000"  # already str in newer pynvml
    assert second.uuid == "GPU-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
    assert (second.pci_device_id, second.pci_vendor_id) == ("24b0", "10de")
    assert second.temperature_c is None  # NOT_SUPPORTED
    assert fake.calls == ["init", "shutdown"]


def test_probe_gpus_pads_small_pci_ids_to_four_hex_digits() -> None:
    gpu = FakeGpu("Tiny", "GPU-1", pci_device_id=0x00AB0001, total=GIB, free=GIB, temperature=1)
    (info,) = probe_gpus(FakeNvml(gpus=[gpu]).module()).gpus
    assert (info.pci_device_id, info.pci_vendor_id) == ("00ab", "0001")


@pytest.mark.parametrize(
    ("encoded", "expected"),
    [(12040, "12.4"), (12020, "12.2"), (11080, "11.8"), (13000, "13.0"), (0, None), (None, None)],
)
def test_probe_gpus_decodes_the_cuda_version(encoded: int | None, expected: str | None) -> None:
    probe = probe_gpus(FakeNvml(gpus=[RTX_4090], cuda=encoded).module())
    assert probe.status == "ok"
    assert probe.cuda_version == expected


def test_probe_gpus_driver_version_as_str() -> None:
    probe = probe_gpus(FakeNvml(gpus=[RTX_4090], driver="570.86.15").module())
    assert probe.driver_version == "570.86.15"


def test_probe_gpus_driver_without_gpus() -> None:
    fake = FakeNvml(gpus=[])
    probe = probe_gpus(fake.module())
    assert probe.status == "ok"
    assert probe.detail == "No NVIDIA GPU found"
    assert probe.gpus == ()
    assert fake.calls == ["init", "shutdown"]


def test_probe_gpus_one_gpu_is_singular() -> None:
    assert probe_gpus(FakeNvml(gpus=[A4000]).module()).detail == "1 NVIDIA GPU"


def test_probe_gpus_library_not_found_is_absent() -> None:
    fake = FakeNvml(gpus=[], init_error=FakeNVMLErrorLibraryNotFound(12))
    probe = probe_gpus(fake.module())
    assert probe.status == "absent"
    assert probe.detail == "No NVIDIA GPU (the NVIDIA driver is not installed)"
    assert probe.gpus == ()
    assert fake.calls == ["init"], "no shutdown after a failed init"


def test_probe_gpus_driver_not_loaded_is_absent() -> None:
    probe = probe_gpus(FakeNvml(gpus=[], init_error=FakeNVMLErrorDriverNotLoaded(9)).module())
    assert probe.status == "absent"
    assert "not loaded" in probe.detail


def test_probe_gpus_other_init_error_is_error() -> None:
    probe = probe_gpus(FakeNvml(gpus=[], init_error=FakeNVMLError(NVML_ERROR_UNKNOWN)).module())
    assert probe.status == "error"
    assert probe.detail == f"NVIDIA driver did not answer: NVML error {NVML_ERROR_UNKNOWN}"


def test_probe_gpus_query_error_is_error_and_still_shuts_down() -> None:
    fake = FakeNvml(gpus=[RTX_4090], count_error=FakeNVMLError(NVML_ERROR_UNKNOWN))
    probe = probe_gpus(fake.module())
    assert probe.status == "error"
    assert probe.detail.startswith("NVIDIA driver query failed: ")
    assert probe.gpus == ()
    assert fake.calls == ["init", "shutdown"]


def test_probe_gpus_ignores_a_failing_shutdown() -> None:
    fake = FakeNvml(gpus=[RTX_4090], shutdown_error=FakeNVMLError(NVML_ERROR_UNKNOWN))
    probe = probe_gpus(fake.module())
    assert probe.status == "ok"
    assert len(probe.gpus) == 1


def test_probe_gpus_without_pynvml_installed_is_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes ``import pynvml`` raise ImportError
    probe = probe_gpus()
    assert probe.status == "absent"
    assert probe.detail == "NVIDIA management library is not installed"


@pytest.mark.gpu
def test_probe_gpus_with_real_nvml() -> None:
    import pynvml

    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError_LibraryNotFound:
        pytest.skip("no NVIDIA driver on this machine (NVML library not found)")
    except pynvml.NVMLError_DriverNotLoaded:
        pytest.skip("no NVIDIA driver on this machine (NVIDIA driver not loaded)")
    try:
        expected_count = pynvml.nvmlDeviceGetCount()
    finally:
        pynvml.nvmlShutdown()

    probe = probe_gpus()
    assert probe.status == "ok", probe.detail
    assert probe.driver_version
    assert probe.cuda_version
    assert re.fullmatch(r"\d+\.\d+", probe.cuda_version)
    assert len(probe.gpus) == expected_count >= 1
    for index, gpu in enumerate(probe.gpus):
        assert gpu.index == index
        assert gpu.name
        assert gpu.uuid.startswith("GPU-")
        assert gpu.vram_total_bytes > 0
        assert 0 <= gpu.vram_free_bytes <= gpu.vram_total_bytes
        assert gpu.pci_vendor_id == "10de"  # NVIDIA
        assert re.fullmatch(r"[0-9a-f]{4}", gpu.pci_device_id)


# ---- Container engine ---------------------------------------------------------------------------


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    """A short folder for unix sockets: their paths must stay under ~100 bytes."""
    folder = Path(tempfile.mkdtemp(prefix="fz", dir="/tmp" if os.path.isdir("/tmp") else None))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def no_docker_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)


def bound_socket(path: Path, *, listen: bool = False) -> socket.socket:
    """Create a real unix socket file at ``path``; listening ones never accept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    if listen:
        sock.listen(8)
    return sock


needs_unix = pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs unix sockets")


@needs_unix
def test_endpoints_docker_host_wins(monkeypatch: pytest.MonkeyPatch, sock_dir: Path) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(sock_dir))
    podman = bound_socket(sock_dir / "podman" / "podman.sock")
    try:
        monkeypatch.setenv("DOCKER_HOST", "  tcp://127.0.0.1:2375 ")
        assert container_engine_endpoints() == ["tcp://127.0.0.1:2375"]
    finally:
        podman.close()


@needs_unix
@pytest.mark.usefixtures("no_docker_host")
def test_endpoints_lists_only_existing_sockets_most_specific_first(
    monkeypatch: pytest.MonkeyPatch, sock_dir: Path
) -> None:
    home = sock_dir / "h"
    runtime = sock_dir / "r"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    (runtime / "podman").mkdir(parents=True)
    podman_path = runtime / "podman" / "podman.sock"
    desktop_path = home / ".docker" / "run" / "docker.sock"
    sockets = [bound_socket(podman_path), bound_socket(desktop_path)]
    try:
        endpoints = container_engine_endpoints()
    finally:
        for sock in sockets:
            sock.close()
    mine = [e for e in endpoints if e.startswith(f"unix://{sock_dir}")]
    assert mine == [f"unix://{desktop_path}", f"unix://{podman_path}"]
    assert f"unix://{runtime / 'docker.sock'}" not in endpoints  # absent, so not offered
    for endpoint in endpoints:
        assert endpoint.startswith("unix://")
        assert Path(endpoint.removeprefix("unix://")).exists()


@needs_unix
@pytest.mark.usefixtures("no_docker_host")
def test_endpoints_skip_regular_files_at_socket_paths(
    monkeypatch: pytest.MonkeyPatch, sock_dir: Path
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(sock_dir))
    (sock_dir / "podman").mkdir()
    (sock_dir / "podman" / "podman.sock").write_text("not a socket")
    assert f"unix://{sock_dir}/podman/podman.sock" not in container_engine_endpoints()


@needs_unix
@pytest.mark.usefixtures("no_docker_host")
def test_probe_engine_not_found_without_sockets(
    monkeypatch: pytest.MonkeyPatch, sock_dir: Path
) -> None:
    monkeypatch.setenv("HOME", str(sock_dir))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(sock_dir))
    if container_engine_endpoints():
        pytest.skip("this machine has a system-wide Docker or Podman socket")
    info = probe_container_engine()
    assert info.status == "not_found"
    assert info.endpoint is None
    assert info.detail == "No Docker or Podman API socket found"


@needs_unix
@pytest.mark.usefixtures("no_docker_host")
def test_probe_engine_lists_engine_commands_on_path(
    monkeypatch: pytest.MonkeyPatch, sock_dir: Path, tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    podman = bin_dir / "podman"
    podman.write_text("#!/bin/sh\nexit 0\n")
    podman.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("HOME", str(sock_dir))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(sock_dir))
    if container_engine_endpoints():
        pytest.skip("this machine has a system-wide Docker or Podman socket")
    assert probe_container_engine().installed == ("podman",)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert probe_container_engine().installed == ()


@needs_unix
@pytest.mark.parametrize("listen", [False, True], ids=["bound-not-listening", "listening-silent"])
def test_probe_engine_silent_socket_is_not_answering(
    monkeypatch: pytest.MonkeyPatch, sock_dir: Path, listen: bool
) -> None:
    path = sock_dir / "docker.sock"
    sock = bound_socket(path, listen=listen)
    try:
        monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
        info = probe_container_engine()
    finally:
        sock.close()
    assert info.status == "not_answering"
    assert info.endpoint == f"unix://{path}"
    assert info.name is None and info.version is None
    expected = "timed out" if listen else "Connection refused"
    assert expected in info.detail
    assert info.detail.startswith(f"unix://{path} ")


@needs_unix
def test_probe_engine_docker_host_socket_that_does_not_exist(
    monkeypatch: pytest.MonkeyPatch, sock_dir: Path
) -> None:
    """DOCKER_HOST is trusted as given, so a missing socket counts as an engine not answering
    (its service may simply not be started) rather than as no engine at all."""
    endpoint = f"unix://{sock_dir}/missing.sock"
    monkeypatch.setenv("DOCKER_HOST", endpoint)
    info = probe_container_engine()
    assert info.status == "not_answering"
    assert info.endpoint == endpoint
    assert info.detail == f"{endpoint} does not exist (is the engine running?)"


@needs_unix
def test_probe_engine_does_not_claim_a_missing_socket_exists(
    monkeypatch: pytest.MonkeyPatch, sock_dir: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{sock_dir}/missing.sock")
    assert "exists" not in probe_container_engine().detail


def test_probe_engine_bad_docker_host_scheme_is_not_answering(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "bogus://somewhere")
    info = probe_container_engine()
    assert info.status == "not_answering"
    assert info.endpoint == "bogus://somewhere"
    assert "Invalid bind address protocol" in info.detail


# A real HTTP server on a unix socket that speaks the subset of the Docker Engine API the probe
# uses. docker SDK 7.2 first GETs /version (unversioned) to negotiate the API version, then
# /v<api>/_ping and /v<api>/version.

_PING_PATH = re.compile(r"(/v\d+\.\d+)?/_ping")
_VERSION_PATH = re.compile(r"(/v\d+\.\d+)?/version")

FAKE_VERSION: dict[str, Any] = {
    "Version": "9.9.9",
    "Components": [{"Name": "Fake Engine", "Version": "9.9.9"}],
    "ApiVersion": "1.41",
}


class FakeEngineServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: Path, version: dict[str, Any], ping_status: int = 200) -> None:
        super().__init__(str(path), FakeEngineHandler)
        self.version = version
        self.ping_status = ping_status
        self.paths: list[str] = []


class FakeEngineHandler(http.server.BaseHTTPRequestHandler):
    server: FakeEngineServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = urllib.parse.urlsplit(self.path).path
        self.server.paths.append(path)
        if _PING_PATH.fullmatch(path):
            ok = self.server.ping_status == 200
            self._reply(self.server.ping_status, b"OK" if ok else b"down", "text/plain")
        elif _VERSION_PATH.fullmatch(path):
            self._reply(200, json.dumps(self.server.version).encode(), "application/json")
        else:
            self._reply(404, b'{"message": "page not found"}', "application/json")

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # unix sockets have no client address to log, and tests need no access log


class StartEngine(Protocol):
    def __call__(
        self, version: dict[str, Any] = ..., *, ping_status: int = ..., name: str = ...
    ) -> FakeEngineServer: ...


@pytest.fixture
def serve_engine(sock_dir: Path) -> Iterator[StartEngine]:
    """Start fake engines on request: ``serve_engine(version, ping_status=200) -> server``."""
    servers: list[FakeEngineServer] = []
    threads: list[threading.Thread] = []

    def start(
        version: dict[str, Any] = FAKE_VERSION, *, ping_status: int = 200, name: str = "e.sock"
    ) -> FakeEngineServer:
        server = FakeEngineServer(sock_dir / name, version, ping_status)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        servers.append(server)
        threads.append(thread)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
    for thread in threads:
        thread.join()


@needs_unix
def test_probe_engine_talks_to_a_real_docker_api_server(
    monkeypatch: pytest.MonkeyPatch, serve_engine: StartEngine
) -> None:
    server = serve_engine()
    endpoint = f"unix://{server.server_address}"
    monkeypatch.setenv("DOCKER_HOST", endpoint)
    info = probe_container_engine()
    assert info.status == "ok", info.detail
    assert info.endpoint == endpoint
    assert info.name == "Fake Engine"
    assert info.version == "9.9.9"
    assert info.detail == f"answers at {endpoint}"
    assert "/v1.41/_ping" in server.paths, server.paths
    assert any(_VERSION_PATH.fullmatch(path) for path in server.paths)


@needs_unix
@pytest.mark.parametrize(
    "version",
    [
        {"Version": "27.3.1", "ApiVersion": "1.47"},
        {"Version": "27.3.1", "ApiVersion": "1.47", "Components": []},
        {"Version": "27.3.1", "ApiVersion": "1.47", "Components": [{"Name": ""}]},
    ],
    ids=["no-components", "empty-components", "empty-name"],
)
def test_probe_engine_without_a_component_name_is_docker_engine(
    monkeypatch: pytest.MonkeyPatch, serve_engine: StartEngine, version: dict[str, Any]
) -> None:
    server = serve_engine(version)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{server.server_address}")
    info = probe_container_engine()
    assert info.status == "ok"
    assert info.name == "Docker Engine"
    assert info.version == "27.3.1"


@needs_unix
def test_probe_engine_failing_ping_is_not_answering(
    monkeypatch: pytest.MonkeyPatch, serve_engine: StartEngine
) -> None:
    server = serve_engine(ping_status=500)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{server.server_address}")
    info = probe_container_engine()
    assert info.status == "not_answering"
    assert "APIError" in info.detail
    assert "/v1.41/_ping" in server.paths


@needs_unix
@pytest.mark.usefixtures("no_docker_host")
def test_probe_engine_falls_back_to_the_next_endpoint(
    monkeypatch: pytest.MonkeyPatch, sock_dir: Path, serve_engine: StartEngine
) -> None:
    """A dead Docker socket does not hide a working Podman socket listed after it."""
    monkeypatch.setenv("HOME", str(sock_dir / "h"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(sock_dir))
    dead = bound_socket(sock_dir / "docker.sock")
    (sock_dir / "podman").mkdir()
    server = serve_engine(name="podman/podman.sock")
    try:
        endpoints = container_engine_endpoints()
        podman = f"unix://{sock_dir}/podman/podman.sock"
        if endpoints[:2] != [f"unix://{sock_dir}/docker.sock", podman]:
            pytest.skip("this machine has a system-wide Docker socket listed first")
        info = probe_container_engine()
    finally:
        dead.close()
    assert info.status == "ok", info.detail
    assert info.endpoint == podman
    assert info.name == "Fake Engine"
    assert server.paths


# ---- A real Docker Engine API: Podman (the podman_socket fixture) ------------------------------


def test_real_podman_answers(podman_socket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", podman_socket)
    engine = probe_container_engine()
    assert engine.status == "ok"
    assert engine.endpoint == podman_socket
    assert engine.name is not None and "Podman" in engine.name
    assert engine.version and engine.version[0].isdigit()


def test_check_passes_with_a_real_engine(
    podman_socket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", podman_socket)
    verdict = evaluate(probe_hardware(tmp_path), load_profile("devnet"))
    check = verdict.check("container_engine")
    assert check.status is CheckStatus.PASS
    assert "Podman" in check.detail and podman_socket in check.detail
    assert check.remedy == ""


def test_engine_that_stopped_answering_warns(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A socket file left behind by a crashed engine: it exists, but nobody listens.
    path = tmp_path / "docker.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    engine = probe_container_engine()
    assert engine.status == "not_answering"
    verdict = evaluate(probe_hardware(tmp_path), load_profile("devnet"))
    check = verdict.check("container_engine")
    assert check.status is CheckStatus.WARN
    assert "Start Docker Desktop or the Docker/Podman service" in check.remedy


def test_gpu_temperature_reads_the_die_sensor_and_is_unknown_otherwise() -> None:
    fake = FakeNvml(gpus=[RTX_4090, A4000])
    assert gpu_temperature(0, fake.module()) == 45.0
    assert gpu_temperature(1, fake.module()) is None  # NOT_SUPPORTED on that board
    assert gpu_temperature(5, fake.module()) is None  # no such GPU
    assert fake.calls == ["init", "shutdown"] * 3
    broken = FakeNvml(gpus=[], init_error=FakeNVMLErrorLibraryNotFound(12))
    assert gpu_temperature(0, broken.module()) is None


@pytest.mark.gpu
def test_gpu_temperature_with_real_nvml() -> None:
    import pynvml

    try:
        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
    except pynvml.NVMLError:
        pytest.skip("no NVIDIA driver on this machine (NVML cannot start)")
    temperature = gpu_temperature(0)
    assert temperature is None or 0 < temperature < 130
