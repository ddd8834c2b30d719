"""Probe this machine: CPU, memory, storage, NVIDIA GPUs, OS and container engine.

Call :func:`probe_hardware` (blocking, well under a second) from a worker thread, or
``await asyncio.to_thread(probe_hardware, path)`` from the engine. Each part is probed on its
own and a failing part degrades to an honest "unknown"/"error" state instead of failing the
whole report.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import psutil

from .jobs.engine import EngineUnreachable, connect, container_engine_endpoints
from .report import (
    BandwidthInfo,
    ContainerEngineInfo,
    CpuInfo,
    GpuInfo,
    GpuProbe,
    HardwareReport,
    MemoryInfo,
    OsInfo,
    StorageInfo,
)

__all__ = [
    "probe_hardware",
    "probe_cpu",
    "probe_memory",
    "probe_storage",
    "probe_gpus",
    "probe_os",
    "probe_container_engine",
    "container_engine_endpoints",
]

log = logging.getLogger(__name__)

ENGINE_TIMEOUT_S = 3.0
"""How long the container engine may take to answer ``/_ping`` before it counts as silent.
A socket nobody listens on fails at once, so this only bounds a hung engine; a busy one (Podman
starts work per request, Docker Desktop's VM wakes up) often needs more than half a second, and
calling it silent then would be a false warning."""


def probe_hardware(storage_path: Path, *, nvml: ModuleType | None = None) -> HardwareReport:
    """Probe everything and return one report.

    Args:
        storage_path: the folder that would hold lease data; free space is measured on its
            file system (the nearest existing parent is used when it does not exist yet).
        nvml: the ``pynvml`` module to use; ``None`` imports the real one.
    """
    started = time.perf_counter()
    report = HardwareReport(
        cpu=probe_cpu(),
        memory=probe_memory(),
        storage=probe_storage(storage_path),
        gpu=probe_gpus(nvml),
        os=probe_os(),
        container_engine=probe_container_engine(),
        bandwidth=BandwidthInfo(measured=False),
    )
    elapsed = time.perf_counter() - started
    log.info("hardware probed in %.3f s", elapsed)
    return HardwareReport(**{**report.__dict__, "probe_seconds": round(elapsed, 4)})


# ---- CPU ----------------------------------------------------------------------------------------

_ARCH_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "aarch64": "arm64", "armv8": "arm64"}


def probe_cpu() -> CpuInfo:
    """Return the CPU model, logical threads, cores, architecture and clock."""
    arch = platform.machine().lower()
    arch = _ARCH_ALIASES.get(arch, arch) or "unknown"
    freq_mhz: float | None = None
    try:
        freq = psutil.cpu_freq()
    except (OSError, NotImplementedError, RuntimeError):  # absent in some VMs and containers
        freq = None
    if freq is not None:
        freq_mhz = float(freq.max or freq.current) or None
    apple_chip = _apple_chip() if sys.platform == "darwin" and arch == "arm64" else None
    return CpuInfo(
        model=apple_chip or _cpu_model(),
        threads=psutil.cpu_count(logical=True) or os.cpu_count() or 1,
        cores=psutil.cpu_count(logical=False),
        arch=arch,
        frequency_mhz=freq_mhz,
        apple_chip=apple_chip,
    )


def _cpu_model() -> str:
    if sys.platform.startswith("linux"):
        try:
            for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                    return value.strip()
        except OSError:
            pass
    elif sys.platform == "darwin":
        brand = _sysctl("machdep.cpu.brand_string")
        if brand:
            return brand
    return platform.processor() or "unknown CPU"


def _apple_chip() -> str | None:
    brand = _sysctl("machdep.cpu.brand_string")
    return brand if brand and brand.startswith("Apple") else None


def _sysctl(name: str) -> str | None:
    try:
        out = subprocess.run(
            ["sysctl", "-n", name], capture_output=True, text=True, timeout=2, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


# ---- Memory and storage -------------------------------------------------------------------------


def probe_memory() -> MemoryInfo:
    """Return total and currently available RAM."""
    vm = psutil.virtual_memory()
    return MemoryInfo(total_bytes=int(vm.total), available_bytes=int(vm.available))


def probe_storage(path: Path) -> StorageInfo:
    """Return size and free space of the file system holding ``path``."""
    existing = path.expanduser().absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    usage = psutil.disk_usage(str(existing))
    return StorageInfo(
        path=str(path),
        mountpoint=_mountpoint(existing),
        total_bytes=int(usage.total),
        free_bytes=int(usage.free),
    )


def _mountpoint(path: Path) -> str:
    current = path
    while not os.path.ismount(current) and current != current.parent:
        current = current.parent
    return str(current)


# ---- NVIDIA GPUs (NVML) -------------------------------------------------------------------------


def probe_gpus(nvml: ModuleType | None = None) -> GpuProbe:
    """Return the NVIDIA driver state and every GPU that NVML lists.

    With no NVIDIA driver this returns ``status="absent"``; it never raises for NVML errors.
    """
    if nvml is None:
        try:
            import pynvml
        except ImportError:  # nvidia-ml-py is a dependency, but a trimmed bundle may lack it
            return GpuProbe(status="absent", detail="NVIDIA management library is not installed")
        nvml = pynvml
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as error:
        if isinstance(error, getattr(nvml, "NVMLError_LibraryNotFound", ())):
            return GpuProbe(
                status="absent", detail="No NVIDIA GPU (the NVIDIA driver is not installed)"
            )
        if isinstance(error, getattr(nvml, "NVMLError_DriverNotLoaded", ())):
            return GpuProbe(
                status="absent", detail="No NVIDIA GPU (the NVIDIA driver is not loaded)"
            )
        return GpuProbe(status="error", detail=f"NVIDIA driver did not answer: {error}")
    try:
        driver = _text(nvml.nvmlSystemGetDriverVersion())
        cuda = _cuda_version(_optional(nvml, nvml.nvmlSystemGetCudaDriverVersion))
        count = int(nvml.nvmlDeviceGetCount())
        gpus = tuple(_gpu_info(nvml, index) for index in range(count))
    except nvml.NVMLError as error:
        return GpuProbe(status="error", detail=f"NVIDIA driver query failed: {error}")
    finally:
        try:
            nvml.nvmlShutdown()
        except nvml.NVMLError:
            pass
    detail = f"{count} NVIDIA GPU{'s' if count != 1 else ''}" if count else "No NVIDIA GPU found"
    return GpuProbe(status="ok", detail=detail, driver_version=driver, cuda_version=cuda, gpus=gpus)


def _gpu_info(nvml: ModuleType, index: int) -> GpuInfo:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    pci = nvml.nvmlDeviceGetPciInfo(handle)
    # pciDeviceId packs the device id in the high 16 bits and the vendor id in the low 16.
    combined = int(pci.pciDeviceId)
    memory = nvml.nvmlDeviceGetMemoryInfo(handle)
    temperature = _optional(nvml, nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU)
    return GpuInfo(
        index=index,
        name=_text(nvml.nvmlDeviceGetName(handle)),
        uuid=_text(nvml.nvmlDeviceGetUUID(handle)),
        pci_device_id=f"{combined >> 16:04x}",
        pci_vendor_id=f"{combined & 0xFFFF:04x}",
        vram_total_bytes=int(memory.total),
        vram_free_bytes=int(memory.free),
        temperature_c=None if temperature is None else int(temperature),
    )


def gpu_temperature(index: int, nvml: ModuleType | None = None) -> float | None:
    """The GPU's temperature now (°C), for the policy's temperature rule; ``None`` when there
    is no NVIDIA driver, no such GPU, or the GPU does not report it. Never raises."""
    if nvml is None:
        try:
            import pynvml
        except ImportError:
            return None
        nvml = pynvml
    try:
        nvml.nvmlInit()
    except Exception:  # no driver, no library: unknown, not an error
        return None
    try:
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        value = _optional(nvml, nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU)
        return None if value is None else float(value)
    except Exception:
        return None
    finally:
        with contextlib.suppress(Exception):
            nvml.nvmlShutdown()


def _optional(nvml: ModuleType, call: Callable[..., Any], *args: Any) -> Any:
    """Call an NVML query that some GPUs and drivers do not support; ``None`` when unsupported."""
    try:
        return call(*args)
    except nvml.NVMLError:
        return None


def _cuda_version(encoded: int | None) -> str | None:
    # NVML encodes CUDA 12.4 as 12040.
    if not encoded:
        return None
    return f"{encoded // 1000}.{(encoded % 1000) // 10}"


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# ---- Operating system ---------------------------------------------------------------------------


def probe_os() -> OsInfo:
    """Return the OS family, a human name and version, the kernel, and whether this is WSL."""
    system = platform.system() or sys.platform
    kernel = platform.release()
    name, version = system, platform.version()
    if system == "Linux":
        release = _os_release()
        name = release.get("PRETTY_NAME") or release.get("NAME") or "Linux"
        version = release.get("VERSION_ID", kernel)
    elif system == "Darwin":
        version = platform.mac_ver()[0] or version
        name = f"macOS {version}"
    elif system == "Windows":
        win_release, win_version = platform.release(), platform.version()
        # Windows 11 still reports release "10"; build 22000 and later is Windows 11.
        build = int(win_version.split(".")[-1]) if win_version.split(".")[-1].isdigit() else 0
        name = f"Windows {'11' if win_release == '10' and build >= 22000 else win_release}"
        version = win_version
    return OsInfo(system=system, name=name, version=version, kernel=kernel, wsl=_is_wsl(system))


def _os_release() -> dict[str, str]:
    try:
        return dict(platform.freedesktop_os_release())
    except OSError:
        return {}


def _is_wsl(system: str) -> bool:
    if system != "Linux":
        return False
    if os.environ.get("WSL_DISTRO_NAME"):
        return True
    try:
        return "microsoft" in Path("/proc/sys/kernel/osrelease").read_text().lower()
    except OSError:
        return False


# ---- Container engine ---------------------------------------------------------------------------


def probe_container_engine() -> ContainerEngineInfo:
    """Find a Docker Engine API (Docker, Docker Desktop or Podman) and check that it answers."""
    endpoints = container_engine_endpoints()
    installed = tuple(name for name in ("docker", "podman") if shutil.which(name))
    if not endpoints:
        return ContainerEngineInfo(
            status="not_found",
            endpoint=None,
            detail="No Docker or Podman API socket found",
            installed=installed,
        )
    try:
        connection = connect(timeout=ENGINE_TIMEOUT_S)
    except EngineUnreachable as error:
        return ContainerEngineInfo(
            status="not_answering", endpoint=endpoints[0], detail=str(error), installed=installed
        )
    connection.client.close()
    return ContainerEngineInfo(
        status="ok",
        endpoint=connection.endpoint,
        name=connection.name,
        version=connection.version,
        detail=f"answers at {connection.endpoint}",
        installed=installed,
    )
