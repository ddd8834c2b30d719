"""What the hardware probe found: plain, immutable, JSON-ready data (stdlib only).

:mod:`fizz_app.core.hardware` fills these in; :mod:`fizz_app.core.requirements` judges them.
Sizes are bytes, frequencies MHz, temperatures degrees Celsius.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = [
    "CpuInfo",
    "MemoryInfo",
    "StorageInfo",
    "GpuInfo",
    "GpuProbe",
    "OsInfo",
    "ContainerEngineInfo",
    "BandwidthInfo",
    "HardwareReport",
]

GpuProbeStatus = Literal["ok", "absent", "error"]
EngineStatus = Literal["ok", "not_found", "not_answering"]


@dataclass(frozen=True)
class CpuInfo:
    model: str
    threads: int
    """Logical CPUs: the network counts threads, not cores."""
    cores: int | None
    arch: str
    """Normalised machine architecture: ``x86_64``, ``arm64``, ..."""
    frequency_mhz: float | None
    """Maximum (or current, when no maximum is known) clock."""
    apple_chip: str | None = None
    """``Apple M2 Pro`` and the like on Apple Silicon; ``None`` elsewhere."""


@dataclass(frozen=True)
class MemoryInfo:
    total_bytes: int
    available_bytes: int


@dataclass(frozen=True)
class StorageInfo:
    path: str
    """The folder that would hold lease data (the data folder or the user's choice)."""
    mountpoint: str
    total_bytes: int
    free_bytes: int


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    uuid: str
    pci_device_id: str
    """PCIe device id as 4 lower-case hex digits (``2684`` for an RTX 4090)."""
    pci_vendor_id: str
    vram_total_bytes: int
    vram_free_bytes: int
    temperature_c: int | None

    @property
    def vram_free_percent(self) -> float:
        """Free VRAM as a percentage of the total (the network wants at least 80)."""
        if self.vram_total_bytes <= 0:
            return 0.0
        return 100.0 * self.vram_free_bytes / self.vram_total_bytes


@dataclass(frozen=True)
class GpuProbe:
    """The NVIDIA side of the report: the driver, and every GPU NVML lists."""

    status: GpuProbeStatus
    """``ok``: NVML answered; ``absent``: no NVIDIA driver; ``error``: NVML failed."""
    detail: str
    driver_version: str | None = None
    cuda_version: str | None = None
    """Highest CUDA version the driver supports, ``major.minor``."""
    gpus: tuple[GpuInfo, ...] = ()


@dataclass(frozen=True)
class OsInfo:
    system: str
    """``Linux``, ``Darwin`` or ``Windows``."""
    name: str
    """Human name: ``Debian GNU/Linux 12 (bookworm)``, ``macOS 14.5``, ``Windows 11``."""
    version: str
    kernel: str
    wsl: bool


@dataclass(frozen=True)
class ContainerEngineInfo:
    status: EngineStatus
    endpoint: str | None
    """Where the Docker Engine API was found (``unix:///run/podman/podman.sock``...)."""
    name: str | None = None
    """``Docker Engine``, ``Podman Engine``... as the engine reports it."""
    version: str | None = None
    detail: str = ""
    installed: tuple[str, ...] = ()
    """Engine commands found on PATH (``docker``, ``podman``): tells "not installed" from
    "installed but not running"."""


@dataclass(frozen=True)
class BandwidthInfo:
    """Bandwidth as the gateway's speed test measured it (Mbit/s, 10⁶ bits)."""

    measured: bool
    download_mbps: float | None = None
    upload_mbps: float | None = None
    bucket: str | None = None
    """The network's bucket (``"100mbps"``...) the gateway gave; ``None`` if not known."""
    measured_at: float | None = None
    """Unix time of the measurement."""
    stale: bool = False
    """Older than a week (:data:`fizz_app.core.bandwidth.STALE_AFTER_S`): measure again."""


@dataclass(frozen=True)
class HardwareReport:
    cpu: CpuInfo
    memory: MemoryInfo
    storage: StorageInfo
    gpu: GpuProbe
    os: OsInfo
    container_engine: ContainerEngineInfo
    bandwidth: BandwidthInfo = field(default_factory=lambda: BandwidthInfo(measured=False))
    probe_seconds: float = 0.0
    """How long the probe took; shown in ``--json`` for support requests."""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict; GPUs are listed under ``gpus``."""
        data = asdict(self)
        gpu = data.pop("gpu")
        data["gpus"] = [
            {**g, "vram_free_percent": round(info.vram_free_percent, 1)}
            for g, info in zip(gpu.pop("gpus"), self.gpu.gpus, strict=True)
        ]
        data["gpu_driver"] = gpu
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HardwareReport:
        """Rebuild a report from :meth:`to_dict` output (snapshots, saved reports)."""
        driver = dict(data["gpu_driver"])
        engine_installed = data["container_engine"].get("installed", ())
        gpus = tuple(
            GpuInfo(**{k: v for k, v in g.items() if k != "vram_free_percent"})
            for g in data["gpus"]
        )
        return cls(
            cpu=CpuInfo(**data["cpu"]),
            memory=MemoryInfo(**data["memory"]),
            storage=StorageInfo(**data["storage"]),
            gpu=GpuProbe(**driver, gpus=gpus),
            os=OsInfo(**data["os"]),
            container_engine=ContainerEngineInfo(
                **{**data["container_engine"], "installed": tuple(engine_installed)}
            ),
            bandwidth=BandwidthInfo(**data["bandwidth"]),
            probe_seconds=float(data.get("probe_seconds", 0.0)),
        )
