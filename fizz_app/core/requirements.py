"""Requirement profiles and the pure functions that judge a hardware report against them.

Profiles are data files in ``resources/profiles/<name>.json``. Load one with
:func:`load_profile` and judge a report with :func:`evaluate`; every check function here is a
pure function from (report part, profile) to a :class:`~fizz_app.core.checks.CheckResult`.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .checks import CheckResult, CheckStatus, Verdict
from .errors import ProfileError
from .paths import resources_dir
from .report import (
    BandwidthInfo,
    ContainerEngineInfo,
    CpuInfo,
    GpuProbe,
    HardwareReport,
    MemoryInfo,
    OsInfo,
    StorageInfo,
)
from .validation import first_problem

__all__ = [
    "Profile",
    "available_profiles",
    "load_profile",
    "evaluate",
    "check_cpu",
    "check_memory",
    "check_storage",
    "check_gpu",
    "check_os",
    "check_container_engine",
    "check_bandwidth",
    "bandwidth_bucket",
]

GIB = 1024**3
GB = 1000**3

RAM_REPORTING_SLACK = 0.93
"""A machine sold with 16 GB reports about 15.5 GiB: firmware, the integrated GPU and the kernel
keep some. Accept totals down to 93% of the advertised size so that such a machine passes."""

LOW_AVAILABLE_RAM_SHARE = 0.5
"""Warn when less than this share of the profile's minimum RAM is free right now."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CpuRule(_Frozen):
    min_threads: int = Field(ge=1)
    max_threads: int = Field(ge=1)


class MemoryRule(_Frozen):
    min_gb: float = Field(gt=0)
    max_gb: float = Field(gt=0)


class StorageRule(_Frozen):
    min_free_gb: float = Field(gt=0)
    max_gb: float = Field(gt=0)


class BandwidthRule(_Frozen):
    min_download_mbps: float = Field(ge=0)


class GpuRule(_Frozen):
    driver_newer_than: int = Field(ge=0)
    """The driver's major version must be greater than this (560 on the real network)."""
    cuda_newer_than: str = Field(pattern=r"^\d+\.\d+$")
    """The driver's CUDA version must be greater than this (``12.1`` on the real network)."""
    min_vram_free_percent: float = Field(ge=0, le=100)
    max_gpus: int = Field(ge=1)


class Profile(_Frozen):
    """A set of minimums a machine must meet to join a network."""

    name: str
    title: str
    description: str
    sources: tuple[str, ...] = ()
    cpu: CpuRule
    memory: MemoryRule
    storage: StorageRule
    bandwidth: BandwidthRule
    gpu: GpuRule


def _profiles_dir() -> Path:
    return resources_dir() / "profiles"


def available_profiles() -> list[str]:
    """Return the names of the profiles shipped with the app, sorted."""
    return sorted(path.stem for path in _profiles_dir().glob("*.json"))


def load_profile(name: str) -> Profile:
    """Load the profile called ``name``.

    Raises:
        ProfileError: the profile does not exist (the message lists those that do) or its
            file is malformed (the message names the field).
    """
    path = _profiles_dir() / f"{name}.json"
    if "/" in name or "\\" in name or not path.is_file():
        known = ", ".join(available_profiles()) or "none"
        raise ProfileError(f"Unknown requirement profile {name!r}.", f"Choose one of: {known}.")
    try:
        profile = Profile.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as error:
        raise ProfileError(
            f"Profile file {path} is not valid JSON (line {error.lineno}: {error.msg}).",
            "Reinstall the app to restore it.",
        ) from None
    except ValidationError as error:
        problem = first_problem(error)
        raise ProfileError(
            f"Profile file {path} has a bad field {problem.field!r}: {problem.message}.",
            "Reinstall the app to restore it.",
        ) from None
    if profile.name != name:
        raise ProfileError(
            f"Profile file {path} names itself {profile.name!r}.", "Reinstall the app."
        )
    return profile


def evaluate(report: HardwareReport, profile: Profile) -> Verdict:
    """Judge ``report`` against ``profile``: one check per requirement, in display order."""
    return Verdict(
        profile=profile.name,
        profile_title=profile.title,
        checks=(
            check_cpu(report.cpu, profile),
            check_memory(report.memory, profile),
            check_storage(report.storage, profile),
            check_gpu(report.gpu, report.cpu, profile),
            check_os(report.os, profile),
            check_container_engine(report.container_engine, report.os),
            check_bandwidth(report.bandwidth, profile),
        ),
    )


# ---- Individual checks --------------------------------------------------------------------------


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _num(value: float) -> str:
    """Format ``value`` with at most one decimal and no trailing ``.0``."""
    return f"{value:.1f}".removesuffix(".0")


def check_cpu(cpu: CpuInfo, profile: Profile) -> CheckResult:
    rule = profile.cpu
    found = f"{_plural(cpu.threads, 'CPU thread')} ({cpu.model}, {cpu.arch})"
    if cpu.threads < rule.min_threads:
        return CheckResult(
            "cpu",
            CheckStatus.FAIL,
            f"{found}; {profile.title} needs at least {rule.min_threads}.",
            f"Use a machine with at least {rule.min_threads} CPU threads "
            "(hyper-threads count as threads).",
        )
    if cpu.threads > rule.max_threads:
        return CheckResult(
            "cpu",
            CheckStatus.PASS,
            f"{found}; at most {rule.max_threads} will be offered (the network's maximum).",
        )
    return CheckResult("cpu", CheckStatus.PASS, f"{found}.")


def check_memory(memory: MemoryInfo, profile: Profile) -> CheckResult:
    rule = profile.memory
    total_gib = memory.total_bytes / GIB
    available_gib = memory.available_bytes / GIB
    found = f"{_num(total_gib)} GiB RAM, {_num(available_gib)} GiB free now"
    if memory.total_bytes < rule.min_gb * GIB * RAM_REPORTING_SLACK:
        return CheckResult(
            "memory",
            CheckStatus.FAIL,
            f"{found}; {profile.title} needs at least {_num(rule.min_gb)} GB.",
            f"Use a machine with at least {_num(rule.min_gb)} GB of RAM.",
        )
    if memory.available_bytes < rule.min_gb * GIB * LOW_AVAILABLE_RAM_SHARE:
        return CheckResult(
            "memory",
            CheckStatus.WARN,
            f"{found}; little is left for jobs.",
            "Close memory-hungry programs, or lower the RAM you offer in Settings.",
        )
    if total_gib > rule.max_gb:
        return CheckResult(
            "memory",
            CheckStatus.PASS,
            f"{found}; at most {_num(rule.max_gb)} GB will be offered (the network's maximum).",
        )
    return CheckResult("memory", CheckStatus.PASS, f"{found}.")


def check_storage(storage: StorageInfo, profile: Profile) -> CheckResult:
    rule = profile.storage
    free_gb = storage.free_bytes / GB
    found = f"{_num(free_gb)} GB free on {storage.mountpoint} (data folder {storage.path})"
    if free_gb < rule.min_free_gb:
        missing = max(1, math.ceil(rule.min_free_gb - free_gb))
        return CheckResult(
            "storage",
            CheckStatus.FAIL,
            f"{found}; {profile.title} needs {_num(rule.min_free_gb)} GB free.",
            f"Free {missing} GB on {storage.mountpoint}, "
            "or choose another data folder in Settings.",
        )
    if free_gb > rule.max_gb:
        return CheckResult(
            "storage",
            CheckStatus.PASS,
            f"{found}; at most {_num(rule.max_gb)} GB will be offered (the network's maximum).",
        )
    return CheckResult("storage", CheckStatus.PASS, f"{found}.")


def _version_tuple(text: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in text.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def check_gpu(gpu: GpuProbe, cpu: CpuInfo, profile: Profile) -> CheckResult:
    """Judge the NVIDIA side. A machine without a usable GPU still joins as a CPU node, so GPU
    problems warn (the GPU is not offered) rather than fail."""
    rule = profile.gpu
    if cpu.apple_chip:
        return CheckResult(
            "gpu",
            CheckStatus.PASS,
            f"{cpu.apple_chip}: its GPU is not offered; Apple Silicon joins as a CPU node.",
        )
    if gpu.status == "error":
        return CheckResult(
            "gpu",
            CheckStatus.WARN,
            f"{gpu.detail}; the GPU will not be offered.",
            f"Reinstall the NVIDIA driver (newer than {rule.driver_newer_than}), restart, "
            "and check again.",
        )
    if gpu.status == "absent" or not gpu.gpus:
        return CheckResult(
            "gpu", CheckStatus.PASS, f"{gpu.detail}; this machine joins as a CPU node."
        )
    first = gpu.gpus[0]
    found = f"{first.name}, driver {gpu.driver_version}, CUDA {gpu.cuda_version or 'unknown'}"
    driver = _version_tuple(gpu.driver_version or "")
    if not driver or driver[0] <= rule.driver_newer_than:
        return CheckResult(
            "gpu",
            CheckStatus.WARN,
            f"{found}; GPU nodes need a driver newer than {rule.driver_newer_than}, "
            "so the GPU will not be offered.",
            f"Update the NVIDIA driver to version {rule.driver_newer_than + 5} or newer, "
            "restart, and check again.",
        )
    cuda = _version_tuple(gpu.cuda_version or "")
    if not cuda or cuda <= _version_tuple(rule.cuda_newer_than):
        return CheckResult(
            "gpu",
            CheckStatus.WARN,
            f"{found}; GPU nodes need CUDA newer than {rule.cuda_newer_than}, "
            "so the GPU will not be offered.",
            "Update the NVIDIA driver (it brings the CUDA version), restart, and check again.",
        )
    if first.vram_free_percent < rule.min_vram_free_percent:
        return CheckResult(
            "gpu",
            CheckStatus.WARN,
            f"{found}; only {first.vram_free_percent:.0f}% of its memory is free and jobs need "
            f"{rule.min_vram_free_percent:.0f}%.",
            "Close programs that use the GPU (games, video editors, browsers with hardware "
            "acceleration) and check again.",
        )
    if len(gpu.gpus) > rule.max_gpus:
        return CheckResult(
            "gpu",
            CheckStatus.WARN,
            f"{_plural(len(gpu.gpus), 'NVIDIA GPU')}; the network takes "
            f"{_plural(rule.max_gpus, 'GPU')} per node, so GPU 0 ({first.name}) will be offered.",
            "Nothing to do; the other GPUs stay free for your own use.",
        )
    return CheckResult("gpu", CheckStatus.PASS, f"{found}.")


def check_os(os_info: OsInfo, profile: Profile) -> CheckResult:
    name = f"{os_info.name} (kernel {os_info.kernel})"
    if os_info.system == "Linux":
        where = "Windows Subsystem for Linux: " if os_info.wsl else ""
        return CheckResult("os", CheckStatus.PASS, f"{where}{name}.")
    if os_info.system == "Darwin":
        return CheckResult("os", CheckStatus.PASS, f"{os_info.name}.")
    if os_info.system == "Windows":
        return CheckResult(
            "os",
            CheckStatus.WARN,
            f"{os_info.name}: container jobs run through Docker Desktop's WSL 2 backend.",
            "Install WSL 2 (wsl --install) and Docker Desktop with the WSL 2 backend enabled.",
        )
    return CheckResult(
        "os",
        CheckStatus.FAIL,
        f"{os_info.name} is not supported; {profile.title} runs on Linux, macOS and Windows.",
        "Use a Linux, macOS or Windows machine.",
    )


def _engine_install_hint(os_info: OsInfo) -> str:
    if os_info.system == "Darwin":
        return "Install Docker Desktop (the Apple Silicon build on M-series Macs) and start it"
    if os_info.system == "Windows" or os_info.wsl:
        return "Install Docker Desktop with the WSL 2 backend and start it"
    return (
        "Install Docker Engine or Podman (Debian/Ubuntu: sudo apt-get install podman) and start "
        "its API service (systemctl --user enable --now podman.socket)"
    )


def check_container_engine(engine: ContainerEngineInfo, os_info: OsInfo) -> CheckResult:
    """Container jobs need Docker or Podman; WebAssembly jobs do not, so a missing engine warns."""
    if engine.status == "ok":
        return CheckResult(
            "container_engine",
            CheckStatus.PASS,
            f"{engine.name or 'Container engine'} {engine.version or ''} {engine.detail}".replace(
                "  ", " "
            ).strip()
            + ".",
        )
    if engine.status == "not_answering":
        return CheckResult(
            "container_engine",
            CheckStatus.WARN,
            f"{engine.detail}; only WebAssembly jobs can run.",
            "Start Docker Desktop or the Docker/Podman service, then check again.",
        )
    desktop_os = os_info.system in ("Darwin", "Windows") or os_info.wsl
    if "podman" in engine.installed:
        return CheckResult(
            "container_engine",
            CheckStatus.WARN,
            "Podman is installed but its API service is not running; "
            "only WebAssembly jobs can run.",
            "Start it with: podman machine start, then check again."
            if desktop_os
            else "Start it with: systemctl --user enable --now podman.socket "
            "(as root: systemctl enable --now podman.socket), then check again.",
        )
    if "docker" in engine.installed:
        return CheckResult(
            "container_engine",
            CheckStatus.WARN,
            "Docker is installed but not running; only WebAssembly jobs can run.",
            "Start Docker Desktop, then check again."
            if desktop_os
            else "Start it with: sudo systemctl start docker, then check again.",
        )
    return CheckResult(
        "container_engine",
        CheckStatus.WARN,
        "No Docker or Podman found; only WebAssembly jobs can run.",
        f"{_engine_install_hint(os_info)}, then check again.",
    )


def check_bandwidth(bandwidth: BandwidthInfo, profile: Profile) -> CheckResult:
    rule = profile.bandwidth
    if (
        not bandwidth.measured
        or bandwidth.download_mbps is None
        or not math.isfinite(bandwidth.download_mbps)
    ):
        return CheckResult(
            "bandwidth",
            CheckStatus.WARN,
            "Not measured yet: the speed test runs through the gateway once the node connects.",
            "Nothing to do now; the result appears after the first connection.",
        )
    down = bandwidth.download_mbps
    up = (
        bandwidth.upload_mbps
        if bandwidth.upload_mbps and math.isfinite(bandwidth.upload_mbps)
        else 0.0
    )
    # The gateway's bucket is the network's word; computed here only when it gave none.
    bucket = (
        bandwidth.bucket if bandwidth.bucket not in (None, "NA") else bandwidth_bucket(down + up)
    )
    found = f"{_num(down)} Mbit/s down, {_num(up)} Mbit/s up ({bucket})"
    if bandwidth.measured_at is not None:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(bandwidth.measured_at))
        found += f", measured {when}"
    if bandwidth.stale:
        return CheckResult(
            "bandwidth",
            CheckStatus.WARN,
            f"{found}; this measurement is over a week old.",
            "Start the node: the speed test runs again when it connects to its gateway.",
        )
    if down < rule.min_download_mbps:
        return CheckResult(
            "bandwidth",
            CheckStatus.FAIL,
            f"{found}; {profile.title} needs {_num(rule.min_download_mbps)} Mbit/s down.",
            "Use a faster connection (wired Ethernet helps) or pick a nearer gateway.",
        )
    return CheckResult("bandwidth", CheckStatus.PASS, f"{found}.")


_BANDWIDTH_BUCKETS = (
    (50, "10mbps"),
    (100, "50mbps"),
    (200, "100mbps"),
    (300, "200mbps"),
    (400, "300mbps"),
    (500, "400mbps"),
    (1000, "500mbps"),
    (5000, "1gbps"),
    (10000, "5gbps"),
)


def bandwidth_bucket(total_mbps: float | None) -> str:
    """Return the network's bandwidth attribute for down+up Mbit/s (``NA`` when unknown).

    The buckets are the real network's (fizzup ``check_bandwidth``): below 50 is ``10mbps``,
    below 100 is ``50mbps``, ... and 10,000 or more is ``10gbps``.
    """
    if total_mbps is None or math.isnan(total_mbps) or total_mbps < 0:
        return "NA"
    for limit, label in _BANDWIDTH_BUCKETS:
        if total_mbps < limit:
            return label
    return "10gbps"
