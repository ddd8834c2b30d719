"""What the machine offers, and the status report in the real network's shape."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from fizz_app.core.hardware import probe_hardware
from fizz_app.core.offer import Offer, capacity_report, offer_from_report, os_id
from fizz_app.core.report import CpuInfo, HardwareReport, OsInfo

GIB = 1024**3
GB = 1000**3


def test_offer_from_a_gpu_desktop(sample_report: HardwareReport) -> None:
    offer = offer_from_report(sample_report)
    assert offer == Offer(
        cpu_units=32,
        memory_gb=64,
        storage_gb=640,
        gpu_model="rtx4090",
        gpu_units=1,  # the network takes one GPU per node: the first
        cpu_resource="gp",
        gpu_index=0,
    )


def test_offer_is_capped_at_the_network_maxima(sample_report: HardwareReport) -> None:
    big = dataclasses.replace(
        sample_report,
        cpu=dataclasses.replace(sample_report.cpu, threads=64),
        memory=dataclasses.replace(sample_report.memory, total_bytes=512 * GIB),
        storage=dataclasses.replace(sample_report.storage, free_bytes=9000 * GB),
    )
    offer = offer_from_report(big)
    assert (offer.cpu_units, offer.memory_gb, offer.storage_gb) == (32, 128, 2000)


def test_apple_silicon_offers_its_chip_as_the_cpu_resource(sample_report: HardwareReport) -> None:
    mac = dataclasses.replace(
        sample_report,
        cpu=CpuInfo("Apple M2 Pro", 12, 12, "arm64", None, apple_chip="Apple M2 Pro"),
        os=OsInfo("Darwin", "macOS 14.5", "14.5", "23.5.0", False),
    )
    assert offer_from_report(mac).cpu_resource == "m2-pro"
    assert os_id(mac) == "macos"


def test_capacity_report_has_the_real_networks_shape(sample_report: HardwareReport) -> None:
    offer = offer_from_report(sample_report)
    used = dataclasses.replace(offer, cpu_units=8, memory_gb=16, storage_gb=100, gpu_units=1)
    report = capacity_report(
        offer, sample_report, client_version="0.1.0", protocol_version="1", in_use=used
    )
    json.dumps(report)
    assert set(report) == {
        "allocatable",
        "available",
        "bandwidth",
        "version",
        "os",
        "arch",
        "cuda_version",
        "nvidia_driver_version",
    }
    allocatable, available = report["allocatable"], report["available"]
    assert allocatable["cpu"] == 32_000  # millicores
    assert allocatable["memory"] == 64 * GIB and allocatable["storage_ephemeral"] == 640 * GB
    assert allocatable["gpu_infos"] == [
        {
            "vendor": "nvidia",
            "name": "rtx4090",
            "model_id": "2684",
            "interface": "pcie",
            "memory_size": "24.00Gi",
            "vram_available_percentage": 96,
        }
    ]
    assert available["cpu"] == 24_000 and available["gpu"] == 0
    assert available["gpu_infos"] is None
    assert report["bandwidth"] == "412;88"
    assert report["version"] == "0.1.0;1"
    assert (report["os"], report["arch"]) == ("linux", "x86_64")
    assert (report["cuda_version"], report["nvidia_driver_version"]) == ("12.7", "565.57.01")


def test_this_machine(tmp_path: Path) -> None:
    report = probe_hardware(tmp_path)
    offer = offer_from_report(report)
    assert 1 <= offer.cpu_units <= 32 and offer.memory_gb >= 1
    capacity = capacity_report(offer, report, client_version="0.1.0", protocol_version="1")
    assert capacity["bandwidth"] == "NA;NA"  # not measured until the gateway's speed test
    assert capacity["available"]["cpu"] == capacity["allocatable"]["cpu"]
