"""What this machine offers the network, and how the node reports it to its gateway.

:func:`offer_from_report` turns a hardware report into an :class:`Offer`: everything present,
within the real network's per-node maxima (32 CPU threads, 128 GB RAM, 2000 GB storage, one
GPU). The owner's limits and pricing (a later part of the engine) only ever lower it.
:func:`capacity_report` renders an offer in the shape of the real network's status report
(spheron-network.md 5.4: ``allocatable``, ``available``, ``bandwidth``, ``version`` ...), which
the tunnel sends to the gateway.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .report import HardwareReport
from .spec import gpu_short_name

__all__ = ["Offer", "offer_from_report", "capacity_report", "os_id", "MAX_CPU_THREADS"]

GIB = 1024**3
GB = 1000**3
MAX_CPU_THREADS = 32
MAX_MEMORY_GB = 128
MAX_STORAGE_GB = 2000


@dataclass(frozen=True)
class Offer:
    cpu_units: int
    """CPU threads."""
    memory_gb: int
    storage_gb: int
    gpu_model: str
    """The network's short model name (``rtx4090``), ``none`` without a GPU."""
    gpu_units: int
    cpu_resource: str
    """The network's CPU resource name: ``gp`` (Intel/AMD) or an Apple chip (``m2-pro``)."""
    gpu_index: int | None = None
    """Which NVML GPU is offered (the network takes one per node)."""


def _apple_chip_slug(chip: str) -> str:
    # "Apple M2 Pro" -> "m2-pro", the network's CPU resource names.
    return "-".join(chip.lower().removeprefix("apple").split())


def offer_from_report(report: HardwareReport) -> Offer:
    """Return what ``report``'s machine can offer (before the owner's limits)."""
    gpu = report.gpu.gpus[0] if report.gpu.gpus else None
    chip = report.cpu.apple_chip
    return Offer(
        cpu_units=min(report.cpu.threads, MAX_CPU_THREADS),
        memory_gb=min(math.floor(report.memory.total_bytes / GIB), MAX_MEMORY_GB),
        storage_gb=min(math.floor(report.storage.free_bytes / GB), MAX_STORAGE_GB),
        gpu_model=gpu_short_name(gpu.name) if gpu else "none",
        gpu_units=1 if gpu else 0,
        cpu_resource=_apple_chip_slug(chip) if chip else "gp",
        gpu_index=gpu.index if gpu else None,
    )


def os_id(report: HardwareReport) -> str:
    """The OS as the network names it (fizzup's OS_ID): ``linux``, ``wsl``, ``macos``,
    ``windows``."""
    if report.os.wsl:
        return "wsl"
    return {"Darwin": "macos", "Windows": "windows"}.get(report.os.system, "linux")


def _resources(offer: Offer, report: HardwareReport, *, with_gpu_infos: bool) -> dict[str, Any]:
    gpu_infos: list[dict[str, Any]] | None = None
    if with_gpu_infos and offer.gpu_index is not None:
        gpu = report.gpu.gpus[offer.gpu_index]
        gpu_infos = [
            {
                "vendor": "nvidia",
                "name": offer.gpu_model,
                "model_id": gpu.pci_device_id,
                "interface": "pcie",
                "memory_size": f"{gpu.vram_total_bytes / GIB:.2f}Gi",
                "vram_available_percentage": round(gpu.vram_free_percent),
            }
        ]
    return {
        "cpu": offer.cpu_units * 1000,
        "memory": offer.memory_gb * GIB,
        "storage_ephemeral": offer.storage_gb * GB,
        "gpu": offer.gpu_units,
        "gpu_infos": gpu_infos,
    }


def capacity_report(
    offer: Offer,
    report: HardwareReport,
    *,
    client_version: str,
    protocol_version: str,
    in_use: Offer | None = None,
) -> dict[str, Any]:
    """Return the status report the gateway publishes for this node.

    Args:
        offer: what is offered.
        report: the machine (for GPU details, OS, driver versions, bandwidth).
        client_version: this app's version; ``protocol_version``: the tunnel protocol's.
        in_use: resources taken by running leases; ``available`` is ``offer`` minus these.
    """
    used = in_use or Offer(0, 0, 0, "none", 0, offer.cpu_resource)
    available = Offer(
        cpu_units=max(0, offer.cpu_units - used.cpu_units),
        memory_gb=max(0, offer.memory_gb - used.memory_gb),
        storage_gb=max(0, offer.storage_gb - used.storage_gb),
        gpu_model=offer.gpu_model,
        gpu_units=max(0, offer.gpu_units - used.gpu_units),
        cpu_resource=offer.cpu_resource,
        gpu_index=offer.gpu_index,
    )
    bandwidth = report.bandwidth
    down = f"{bandwidth.download_mbps:.0f}" if bandwidth.download_mbps is not None else "NA"
    up = f"{bandwidth.upload_mbps:.0f}" if bandwidth.upload_mbps is not None else "NA"
    return {
        "allocatable": _resources(offer, report, with_gpu_infos=True),
        # The real network leaves available.gpu_infos null (sdk modules/fizz/types.ts).
        "available": _resources(available, report, with_gpu_infos=False),
        "bandwidth": f"{down};{up}",
        "version": f"{client_version};{protocol_version}",
        "os": os_id(report),
        "arch": report.cpu.arch,
        "cuda_version": report.gpu.cuda_version or "",
        "nvidia_driver_version": report.gpu.driver_version or "",
    }
