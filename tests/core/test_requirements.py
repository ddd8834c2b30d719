"""Tests for fizz_app.core.requirements: profile loading and every check's thresholds.

The check functions are pure, so most tests hand-build report dataclasses and judge them
against the shipped ``spheron-fizz`` profile (the real network's minimums).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fizz_app.core import requirements
from fizz_app.core.checks import CheckResult, CheckStatus
from fizz_app.core.errors import ProfileError
from fizz_app.core.hardware import probe_hardware
from fizz_app.core.paths import resources_dir
from fizz_app.core.report import (
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
from fizz_app.core.requirements import (
    Profile,
    available_profiles,
    bandwidth_bucket,
    check_bandwidth,
    check_container_engine,
    check_cpu,
    check_gpu,
    check_memory,
    check_os,
    check_storage,
    evaluate,
    load_profile,
)

GIB = 1024**3
GB = 1000**3

PASS, WARN, FAIL = CheckStatus.PASS, CheckStatus.WARN, CheckStatus.FAIL


@functools.cache
def spheron() -> Profile:
    """The real network's profile, loaded once (hypothesis tests cannot take fixtures)."""
    return load_profile("spheron-fizz")


# ---- Builders -----------------------------------------------------------------------------------


def make_cpu(threads: int = 16, *, apple_chip: str | None = None) -> CpuInfo:
    return CpuInfo(
        model=apple_chip or "Intel(R) Core(TM) i7-1260P",
        threads=threads,
        cores=max(1, threads // 2),
        arch="arm64" if apple_chip else "x86_64",
        frequency_mhz=4700.0,
        apple_chip=apple_chip,
    )


def make_memory(total_gib: float, available_gib: float | None = None) -> MemoryInfo:
    available = total_gib * 0.75 if available_gib is None else available_gib
    return MemoryInfo(total_bytes=int(total_gib * GIB), available_bytes=int(available * GIB))


def make_storage(free_bytes: int, mountpoint: str = "/home") -> StorageInfo:
    return StorageInfo(
        path="/home/ada/.local/share/FizzNode",
        mountpoint=mountpoint,
        total_bytes=max(free_bytes, 4000 * GB),
        free_bytes=free_bytes,
    )


def make_gpu(
    index: int = 0, name: str = "NVIDIA GeForce RTX 4090", free_percent: int = 95
) -> GpuInfo:
    total = 25 * GIB  # 100 * 2**28: whole percentages are whole byte counts
    return GpuInfo(
        index=index,
        name=name,
        uuid=f"GPU-00000000-0000-4000-8000-00000000000{index}",
        pci_device_id="2684",
        pci_vendor_id="10de",
        vram_total_bytes=total,
        vram_free_bytes=int(total * free_percent // 100),
        temperature_c=40,
    )


def make_probe(
    driver: str | None = "565.57.01",
    cuda: str | None = "12.4",
    gpus: tuple[GpuInfo, ...] | None = None,
) -> GpuProbe:
    gpus = (make_gpu(),) if gpus is None else gpus
    return GpuProbe(
        status="ok",
        detail=f"{len(gpus)} NVIDIA GPU(s)",
        driver_version=driver,
        cuda_version=cuda,
        gpus=gpus,
    )


ABSENT_GPU = GpuProbe(status="absent", detail="No NVIDIA GPU (the NVIDIA driver is not installed)")


def make_os(system: str = "Linux", *, wsl: bool = False, name: str | None = None) -> OsInfo:
    names = {"Linux": "Ubuntu 24.04 LTS", "Darwin": "macOS 14.5", "Windows": "Windows 11"}
    return OsInfo(
        system=system,
        name=name or names.get(system, system),
        version="1",
        kernel="6.8.0-45-generic",
        wsl=wsl,
    )


ENGINE_OK = ContainerEngineInfo(
    status="ok",
    endpoint="unix:///var/run/docker.sock",
    name="Docker Engine",
    version="27.3.1",
    detail="answers at unix:///var/run/docker.sock",
)


def good_report(**changes: Any) -> HardwareReport:
    """A report that passes every check of ``spheron-fizz``; ``changes`` replace parts."""
    report = HardwareReport(
        cpu=make_cpu(16),
        memory=make_memory(32, 24),
        storage=make_storage(500 * GB),
        gpu=ABSENT_GPU,
        os=make_os("Linux"),
        container_engine=ENGINE_OK,
        bandwidth=BandwidthInfo(measured=True, download_mbps=300.0, upload_mbps=50.0),
    )
    return dataclasses.replace(report, **changes)


def assert_check(result: CheckResult, name: str, status: CheckStatus) -> None:
    """Assert name and status, and that a remedy is given exactly when the check is not a pass."""
    assert result.name == name
    assert result.status is status, result
    if status is PASS:
        assert result.remedy == ""
    else:
        assert result.remedy, f"a {status} needs a remedy: {result}"


# ---- CPU ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("threads", [1, 4, 7])
def test_cpu_below_min_threads_fails(threads: int) -> None:
    result = check_cpu(make_cpu(threads), spheron())
    assert_check(result, "cpu", FAIL)
    assert result.detail.startswith(f"{threads} CPU thread")
    assert "needs at least 8" in result.detail
    assert "at least 8 CPU threads" in result.remedy


def test_cpu_at_min_threads_passes() -> None:
    result = check_cpu(make_cpu(8), spheron())
    assert_check(result, "cpu", PASS)
    assert result.detail == "8 CPU threads (Intel(R) Core(TM) i7-1260P, x86_64)."


@pytest.mark.parametrize("threads", [9, 16, 32])
def test_cpu_between_min_and_max_passes_plainly(threads: int) -> None:
    result = check_cpu(make_cpu(threads), spheron())
    assert_check(result, "cpu", PASS)
    assert "at most" not in result.detail


@pytest.mark.parametrize("threads", [33, 64, 128])
def test_cpu_above_max_passes_and_says_what_is_offered(threads: int) -> None:
    result = check_cpu(make_cpu(threads), spheron())
    assert_check(result, "cpu", PASS)
    assert "at most 32 will be offered" in result.detail
    assert result.detail.startswith(f"{threads} CPU threads")


def test_cpu_single_thread_is_singular() -> None:
    result = check_cpu(make_cpu(1), spheron())
    assert result.detail.startswith("1 CPU thread (")


# ---- Memory -------------------------------------------------------------------------------------


def test_memory_16_gb_laptop_reporting_15_5_gib_passes() -> None:
    result = check_memory(make_memory(15.5, 12), spheron())
    assert_check(result, "memory", PASS)
    assert result.detail == "15.5 GiB RAM, 12 GiB free now."


def test_memory_14_gib_fails() -> None:
    result = check_memory(make_memory(14, 12), spheron())
    assert_check(result, "memory", FAIL)
    assert "needs at least 16 GB" in result.detail
    assert result.remedy == "Use a machine with at least 16 GB of RAM."


def test_memory_slack_boundary() -> None:
    """Totals down to 93% of the advertised 16 GB pass; one byte less fails."""
    limit = math.ceil(16 * GIB * requirements.RAM_REPORTING_SLACK)
    assert 14 * GIB < limit < 15.5 * GIB
    at_limit = check_memory(MemoryInfo(total_bytes=limit, available_bytes=12 * GIB), spheron())
    below = check_memory(MemoryInfo(total_bytes=limit - 1, available_bytes=12 * GIB), spheron())
    assert at_limit.status is PASS
    assert below.status is FAIL


def test_memory_low_available_warns() -> None:
    result = check_memory(make_memory(32, 7.9), spheron())
    assert_check(result, "memory", WARN)
    assert "little is left for jobs" in result.detail
    assert "Close memory-hungry programs" in result.remedy


def test_memory_half_the_minimum_available_is_enough() -> None:
    result = check_memory(make_memory(32, 8), spheron())
    assert_check(result, "memory", PASS)


def test_memory_too_small_fails_even_when_little_is_free() -> None:
    assert check_memory(make_memory(8, 1), spheron()).status is FAIL


def test_memory_above_max_passes_and_says_what_is_offered() -> None:
    result = check_memory(make_memory(256, 200), spheron())
    assert_check(result, "memory", PASS)
    assert "at most 128 GB will be offered" in result.detail


# ---- Storage ------------------------------------------------------------------------------------


def test_storage_63_gb_free_of_100_needed_fails_with_exact_remedy() -> None:
    result = check_storage(make_storage(63 * GB, "/home"), spheron())
    assert_check(result, "storage", FAIL)
    assert result.remedy == "Free 37 GB on /home, or choose another data folder in Settings."
    assert result.detail == (
        "63 GB free on /home (data folder /home/ada/.local/share/FizzNode); "
        "Spheron Fizz node needs 100 GB free."
    )


@pytest.mark.parametrize(
    ("free_bytes", "missing"),
    [
        (99_500_000_000, 1),  # half a GB short rounds up to 1
        (100 * GB - 1, 1),  # one byte short still asks for at least 1 GB
        (62_500_000_000, 38),  # 37.5 GB short rounds up
        (0, 100),
    ],
)
def test_storage_remedy_rounds_the_shortfall_up(free_bytes: int, missing: int) -> None:
    result = check_storage(make_storage(free_bytes, "/mnt/data"), spheron())
    assert result.status is FAIL
    assert result.remedy == (
        f"Free {missing} GB on /mnt/data, or choose another data folder in Settings."
    )


def test_storage_remedy_is_enough_when_shortfall_is_just_over_a_whole_gb() -> None:
    result = check_storage(make_storage(62_999_500_000, "/home"), spheron())
    assert result.remedy == "Free 38 GB on /home, or choose another data folder in Settings."


@given(st.integers(min_value=0, max_value=10_000 - 1))
def test_storage_freeing_the_asked_amount_is_enough_and_minimal(free_centi_gb: int) -> None:
    """On a 10 MB grid: freeing the asked N GB makes the check pass; N - 1 GB would not."""
    free_bytes = free_centi_gb * 10_000_000
    result = check_storage(make_storage(free_bytes), spheron())
    assert result.status is FAIL
    match = re.fullmatch(r"Free (\d+) GB on /home, .*", result.remedy)
    assert match is not None, result.remedy
    missing = int(match[1])
    assert check_storage(make_storage(free_bytes + missing * GB), spheron()).status is PASS
    if missing > 1:
        shy = check_storage(make_storage(free_bytes + (missing - 1) * GB), spheron())
        assert shy.status is FAIL


@pytest.mark.parametrize("free_bytes", [100 * GB, 100 * GB + 1, 1999 * GB, 2000 * GB])
def test_storage_at_or_above_min_passes(free_bytes: int) -> None:
    result = check_storage(make_storage(free_bytes), spheron())
    assert_check(result, "storage", PASS)
    assert "at most" not in result.detail


def test_storage_above_max_passes_and_says_what_is_offered() -> None:
    result = check_storage(make_storage(2500 * GB), spheron())
    assert_check(result, "storage", PASS)
    assert "at most 2000 GB will be offered" in result.detail


# ---- GPU ----------------------------------------------------------------------------------------


def test_gpu_absent_passes_as_cpu_node() -> None:
    result = check_gpu(ABSENT_GPU, make_cpu(), spheron())
    assert_check(result, "gpu", PASS)
    assert result.detail == (
        "No NVIDIA GPU (the NVIDIA driver is not installed); this machine joins as a CPU node."
    )


def test_gpu_driver_without_gpus_passes_as_cpu_node() -> None:
    probe = GpuProbe(status="ok", detail="No NVIDIA GPU found", driver_version="565.57.01")
    result = check_gpu(probe, make_cpu(), spheron())
    assert_check(result, "gpu", PASS)
    assert "CPU node" in result.detail


def test_gpu_nvml_error_warns() -> None:
    probe = GpuProbe(status="error", detail="NVIDIA driver did not answer: Unknown Error")
    result = check_gpu(probe, make_cpu(), spheron())
    assert_check(result, "gpu", WARN)
    assert result.detail.startswith("NVIDIA driver did not answer: Unknown Error")
    assert "newer than 560" in result.remedy


@pytest.mark.parametrize("driver", ["560.94", "560", "555.42.06", "470.256.02", "", None])
def test_gpu_driver_not_newer_than_560_warns(driver: str | None) -> None:
    result = check_gpu(make_probe(driver=driver), make_cpu(), spheron())
    assert_check(result, "gpu", WARN)
    assert "driver newer than 560" in result.detail
    assert "version 565 or newer" in result.remedy


@pytest.mark.parametrize("driver", ["565.57.01", "561.09", "570.86.15", "1000.1"])
def test_gpu_driver_newer_than_560_passes(driver: str) -> None:
    result = check_gpu(make_probe(driver=driver), make_cpu(), spheron())
    assert_check(result, "gpu", PASS)
    assert result.detail == f"NVIDIA GeForce RTX 4090, driver {driver}, CUDA 12.4."


@pytest.mark.parametrize("cuda", ["12.1", "12.0", "11.8", "", None])
def test_gpu_cuda_not_newer_than_12_1_warns(cuda: str | None) -> None:
    result = check_gpu(make_probe(cuda=cuda), make_cpu(), spheron())
    assert_check(result, "gpu", WARN)
    assert "CUDA newer than 12.1" in result.detail


@pytest.mark.parametrize("cuda", ["12.2", "12.10", "13.0"])
def test_gpu_cuda_newer_than_12_1_passes(cuda: str) -> None:
    """Compared as numbers: 12.10 is newer than 12.1 (a string compare would disagree)."""
    result = check_gpu(make_probe(cuda=cuda), make_cpu(), spheron())
    assert_check(result, "gpu", PASS)


@pytest.mark.parametrize("free_percent", [0, 70, 79])
def test_gpu_vram_mostly_in_use_warns(free_percent: int) -> None:
    probe = make_probe(gpus=(make_gpu(free_percent=free_percent),))
    result = check_gpu(probe, make_cpu(), spheron())
    assert_check(result, "gpu", WARN)
    assert f"only {free_percent}% of its memory is free and jobs need 80%" in result.detail


def test_gpu_80_percent_vram_free_passes() -> None:
    probe = make_probe(gpus=(make_gpu(free_percent=80),))
    assert check_gpu(probe, make_cpu(), spheron()).status is PASS


def test_gpu_two_gpus_warn_naming_gpu_0() -> None:
    gpus = (make_gpu(0, "NVIDIA GeForce RTX 4090"), make_gpu(1, "NVIDIA RTX A4000"))
    result = check_gpu(make_probe(gpus=gpus), make_cpu(), spheron())
    assert_check(result, "gpu", WARN)
    assert result.detail.startswith("2 NVIDIA GPUs;")
    assert "GPU 0 (NVIDIA GeForce RTX 4090) will be offered" in result.detail
    assert "A4000" not in result.detail


def test_gpu_apple_chip_passes_whatever_nvml_says() -> None:
    probe = GpuProbe(status="error", detail="NVIDIA driver did not answer")
    result = check_gpu(probe, make_cpu(10, apple_chip="Apple M2 Pro"), spheron())
    assert_check(result, "gpu", PASS)
    assert result.detail.startswith("Apple M2 Pro:")


# ---- OS -----------------------------------------------------------------------------------------


def test_os_linux_passes() -> None:
    result = check_os(make_os("Linux", name="Debian GNU/Linux 12 (bookworm)"), spheron())
    assert_check(result, "os", PASS)
    assert result.detail == "Debian GNU/Linux 12 (bookworm) (kernel 6.8.0-45-generic)."


def test_os_wsl_passes_and_says_so() -> None:
    result = check_os(make_os("Linux", wsl=True), spheron())
    assert_check(result, "os", PASS)
    assert result.detail.startswith("Windows Subsystem for Linux: Ubuntu 24.04 LTS")


def test_os_macos_passes() -> None:
    result = check_os(make_os("Darwin"), spheron())
    assert_check(result, "os", PASS)
    assert result.detail == "macOS 14.5."


def test_os_windows_warns() -> None:
    result = check_os(make_os("Windows"), spheron())
    assert_check(result, "os", WARN)
    assert "WSL 2" in result.detail
    assert "wsl --install" in result.remedy


@pytest.mark.parametrize("system", ["FreeBSD", "SunOS", "Java", ""])
def test_os_unknown_fails(system: str) -> None:
    result = check_os(make_os(system, name=system or "Unknown OS"), spheron())
    assert_check(result, "os", FAIL)
    assert "is not supported" in result.detail


# ---- Container engine ---------------------------------------------------------------------------


def test_engine_ok_passes_with_name_and_version() -> None:
    result = check_container_engine(ENGINE_OK, make_os("Linux"))
    assert_check(result, "container_engine", PASS)
    assert result.detail == "Docker Engine 27.3.1 answers at unix:///var/run/docker.sock."


def test_engine_ok_without_name_or_version_reads_cleanly() -> None:
    engine = ContainerEngineInfo(status="ok", endpoint="unix:///x.sock", detail="answers at here")
    result = check_container_engine(engine, make_os("Linux"))
    assert result.status is PASS
    assert result.detail == "Container engine answers at here."


def test_engine_not_answering_warns() -> None:
    engine = ContainerEngineInfo(
        status="not_answering",
        endpoint="unix:///var/run/docker.sock",
        detail="unix:///var/run/docker.sock exists but does not answer (timeout)",
    )
    result = check_container_engine(engine, make_os("Linux"))
    assert_check(result, "container_engine", WARN)
    assert result.detail.startswith("unix:///var/run/docker.sock exists but does not answer")
    assert "only WebAssembly jobs can run" in result.detail
    assert result.remedy.startswith("Start Docker Desktop or the Docker/Podman service")


NOT_FOUND = ContainerEngineInfo(status="not_found", endpoint=None, detail="No socket found")


@pytest.mark.parametrize(
    ("os_info", "expected", "unexpected"),
    [
        (make_os("Darwin"), "Docker Desktop (the Apple Silicon build", "podman"),
        (make_os("Windows"), "Docker Desktop with the WSL 2 backend", "podman"),
        (make_os("Linux", wsl=True), "Docker Desktop with the WSL 2 backend", "podman"),
        (make_os("Linux"), "sudo apt-get install podman", "Docker Desktop"),
    ],
    ids=["macos", "windows", "wsl", "linux"],
)
def test_engine_not_found_warns_with_per_os_remedy(
    os_info: OsInfo, expected: str, unexpected: str
) -> None:
    result = check_container_engine(NOT_FOUND, os_info)
    assert_check(result, "container_engine", WARN)
    assert result.detail == "No Docker or Podman found; only WebAssembly jobs can run."
    assert expected in result.remedy
    assert unexpected not in result.remedy
    assert result.remedy.endswith(", then check again.")


@pytest.mark.parametrize(
    ("installed", "os_info", "detail", "remedy"),
    [
        (("podman",), make_os("Linux"), "Podman is installed but", "systemctl --user enable"),
        (("podman",), make_os("Darwin"), "Podman is installed but", "podman machine start"),
        (("docker",), make_os("Linux"), "Docker is installed but", "sudo systemctl start docker"),
        (("docker",), make_os("Windows"), "Docker is installed but", "Start Docker Desktop"),
        (("docker", "podman"), make_os("Linux"), "Podman is installed but", "podman.socket"),
    ],
    ids=["podman-linux", "podman-macos", "docker-linux", "docker-windows", "both-linux"],
)
def test_installed_but_stopped_engine_says_how_to_start_it(
    installed: tuple[str, ...], os_info: OsInfo, detail: str, remedy: str
) -> None:
    engine = ContainerEngineInfo(
        status="not_found", endpoint=None, detail="No socket found", installed=installed
    )
    result = check_container_engine(engine, os_info)
    assert_check(result, "container_engine", WARN)
    assert result.detail.startswith(detail)
    assert "only WebAssembly jobs can run" in result.detail
    assert remedy in result.remedy
    assert result.remedy.endswith("then check again.")


# ---- Bandwidth ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bandwidth",
    [BandwidthInfo(measured=False), BandwidthInfo(measured=True, download_mbps=None)],
    ids=["not-measured", "measured-without-download"],
)
def test_bandwidth_not_measured_warns(bandwidth: BandwidthInfo) -> None:
    result = check_bandwidth(bandwidth, spheron())
    assert_check(result, "bandwidth", WARN)
    assert result.detail.startswith("Not measured")


@pytest.mark.parametrize("down", [0.0, 10.0, 49.9])
def test_bandwidth_below_min_fails(down: float) -> None:
    result = check_bandwidth(BandwidthInfo(True, download_mbps=down, upload_mbps=100.0), spheron())
    assert_check(result, "bandwidth", FAIL)
    assert "needs 50 Mbit/s down" in result.detail


@pytest.mark.parametrize("down", [50.0, 50.1, 940.0])
def test_bandwidth_at_or_above_min_passes(down: float) -> None:
    result = check_bandwidth(BandwidthInfo(True, download_mbps=down, upload_mbps=5.0), spheron())
    assert_check(result, "bandwidth", PASS)


def test_bandwidth_detail_names_the_bucket_of_down_plus_up() -> None:
    result = check_bandwidth(BandwidthInfo(True, download_mbps=300.0, upload_mbps=50.0), spheron())
    assert result.detail == "300 Mbit/s down, 50 Mbit/s up (300mbps)."


def test_bandwidth_missing_upload_counts_as_zero() -> None:
    result = check_bandwidth(BandwidthInfo(True, download_mbps=99.5, upload_mbps=None), spheron())
    assert result.status is PASS
    assert result.detail == "99.5 Mbit/s down, 0 Mbit/s up (50mbps)."


def test_bandwidth_nan_measurement_is_not_a_pass() -> None:
    bandwidth = BandwidthInfo(measured=True, download_mbps=math.nan, upload_mbps=1.0)
    assert check_bandwidth(bandwidth, spheron()).status is not PASS


BUCKET_ORDER = [
    "10mbps",
    "50mbps",
    "100mbps",
    "200mbps",
    "300mbps",
    "400mbps",
    "500mbps",
    "1gbps",
    "5gbps",
    "10gbps",
]


@pytest.mark.parametrize(
    ("total", "bucket"),
    [
        (0, "10mbps"),
        (49.9, "10mbps"),
        (50, "50mbps"),
        (99.9, "50mbps"),
        (100, "100mbps"),
        (199.9, "100mbps"),
        (200, "200mbps"),
        (299.9, "200mbps"),
        (300, "300mbps"),
        (399.9, "300mbps"),
        (400, "400mbps"),
        (499.9, "400mbps"),
        (500, "500mbps"),
        (999, "500mbps"),
        (1000, "1gbps"),
        (4999, "1gbps"),
        (5000, "5gbps"),
        (9999, "5gbps"),
        (10000, "10gbps"),
        (250_000, "10gbps"),
        (math.inf, "10gbps"),
        (None, "NA"),
        (-1, "NA"),
    ],
)
def test_bandwidth_bucket_boundaries(total: float | None, bucket: str) -> None:
    assert bandwidth_bucket(total) == bucket


def test_bandwidth_bucket_nan_is_unknown() -> None:
    assert bandwidth_bucket(math.nan) == "NA"


finite_mbps = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)


@given(finite_mbps, finite_mbps)
def test_bandwidth_bucket_is_monotone(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert BUCKET_ORDER.index(bandwidth_bucket(low)) <= BUCKET_ORDER.index(bandwidth_bucket(high))


# ---- evaluate -----------------------------------------------------------------------------------

CHECK_ORDER = ["cpu", "memory", "storage", "gpu", "os", "container_engine", "bandwidth"]


def test_evaluate_returns_checks_in_display_order() -> None:
    verdict = evaluate(good_report(), spheron())
    assert verdict.profile == "spheron-fizz"
    assert [check.name for check in verdict.checks] == CHECK_ORDER
    assert all(check.status is PASS for check in verdict.checks), verdict
    assert verdict.meets_minimum is True


@pytest.mark.parametrize(
    ("changes", "failing"),
    [
        ({"cpu": make_cpu(4)}, "cpu"),
        ({"memory": make_memory(8)}, "memory"),
        ({"storage": make_storage(10 * GB)}, "storage"),
        ({"os": make_os("FreeBSD")}, "os"),
        ({"bandwidth": BandwidthInfo(True, download_mbps=20.0, upload_mbps=5.0)}, "bandwidth"),
    ],
)
def test_evaluate_one_failure_blocks(changes: dict[str, Any], failing: str) -> None:
    verdict = evaluate(good_report(**changes), spheron())
    assert verdict.meets_minimum is False
    assert [check.name for check in verdict.failed] == [failing]
    assert verdict.check(failing).status is FAIL


def test_evaluate_warnings_do_not_block() -> None:
    report = good_report(
        gpu=GpuProbe(status="error", detail="NVML failed"),
        os=make_os("Windows"),
        container_engine=NOT_FOUND,
        bandwidth=BandwidthInfo(measured=False),
        memory=make_memory(32, 2),
    )
    verdict = evaluate(report, spheron())
    statuses = {check.name: check.status for check in verdict.checks}
    assert statuses == {
        "cpu": PASS,
        "memory": WARN,
        "storage": PASS,
        "gpu": WARN,
        "os": WARN,
        "container_engine": WARN,
        "bandwidth": WARN,
    }
    assert verdict.meets_minimum is True


@given(
    threads=st.integers(min_value=1, max_value=128),
    total_gib=st.floats(min_value=1, max_value=512),
    free_gb=st.integers(min_value=0, max_value=4000),
    system=st.sampled_from(["Linux", "Darwin", "Windows", "FreeBSD"]),
    down=st.one_of(st.none(), st.floats(min_value=0, max_value=2000)),
)
def test_evaluate_meets_minimum_iff_some_check_failed(
    threads: int, total_gib: float, free_gb: int, system: str, down: float | None
) -> None:
    report = good_report(
        cpu=make_cpu(threads),
        memory=make_memory(total_gib),
        storage=make_storage(free_gb * GB),
        os=make_os(system),
        bandwidth=BandwidthInfo(measured=down is not None, download_mbps=down, upload_mbps=1.0),
    )
    verdict = evaluate(report, spheron())
    expected_failures = {
        name
        for name, failed in [
            ("cpu", threads < 8),
            ("memory", report.memory.total_bytes < 16 * GIB * 0.93),
            ("storage", free_gb < 100),
            ("os", system == "FreeBSD"),
            ("bandwidth", down is not None and down < 50),
        ]
        if failed
    }
    assert {check.name for check in verdict.failed} == expected_failures
    assert verdict.meets_minimum is (not expected_failures)
    assert verdict.meets_minimum is not any(c.status is FAIL for c in verdict.checks)


def test_real_probe_of_this_machine_passes_devnet(tmp_path: Path) -> None:
    report = probe_hardware(tmp_path / "lease-data")
    verdict = evaluate(report, load_profile("devnet"))
    assert verdict.profile == "devnet"
    assert [check.name for check in verdict.checks] == CHECK_ORDER
    assert verdict.failed == (), verdict.failed
    assert verdict.meets_minimum is True


# ---- Profiles -----------------------------------------------------------------------------------


def test_shipped_profiles_are_listed() -> None:
    assert {"devnet", "spheron-fizz"} <= set(available_profiles())
    assert available_profiles() == sorted(available_profiles())


def test_load_spheron_fizz_profile() -> None:
    profile = load_profile("spheron-fizz")
    assert profile.name == "spheron-fizz"
    assert profile.title == "Spheron Fizz node"
    assert profile.cpu.min_threads == 8
    assert profile.cpu.max_threads == 32
    assert profile.memory.min_gb == 16
    assert profile.memory.max_gb == 128
    assert profile.storage.min_free_gb == 100
    assert profile.storage.max_gb == 2000
    assert profile.bandwidth.min_download_mbps == 50
    assert profile.gpu.driver_newer_than == 560
    assert profile.gpu.cuda_newer_than == "12.1"
    assert profile.gpu.min_vram_free_percent == 80
    assert profile.gpu.max_gpus == 1
    assert profile.sources, "the real network's minimums must cite their sources"


def test_load_devnet_profile() -> None:
    profile = load_profile("devnet")
    assert profile.name == "devnet"
    assert profile.cpu.min_threads == 1
    assert profile.memory.min_gb == 1
    assert profile.storage.min_free_gb == 1
    assert profile.bandwidth.min_download_mbps == 0
    assert profile.gpu.driver_newer_than == 560


def test_unknown_profile_lists_the_available_ones() -> None:
    with pytest.raises(ProfileError) as caught:
        load_profile("mainnet-turbo")
    assert "Unknown requirement profile 'mainnet-turbo'" in caught.value.message
    assert "devnet" in caught.value.remedy
    assert "spheron-fizz" in caught.value.remedy
    assert "devnet" in str(caught.value)


@pytest.mark.parametrize(
    "name", ["../profiles/devnet", "../x", "..\\profiles\\devnet", "profiles/../devnet", "/etc/x"]
)
def test_path_like_profile_names_are_refused(name: str) -> None:
    if name == "../profiles/devnet":  # the file this name points at really exists
        assert (resources_dir() / "profiles" / f"{name}.json").is_file()
    with pytest.raises(ProfileError, match="Unknown requirement profile"):
        load_profile(name)


VALID_PROFILE: dict[str, Any] = {
    "name": "bad",
    "title": "Bad",
    "description": "A test profile.",
    "cpu": {"min_threads": 2, "max_threads": 8},
    "memory": {"min_gb": 2, "max_gb": 16},
    "storage": {"min_free_gb": 5, "max_gb": 50},
    "bandwidth": {"min_download_mbps": 10},
    "gpu": {
        "driver_newer_than": 560,
        "cuda_newer_than": "12.1",
        "min_vram_free_percent": 80,
        "max_gpus": 1,
    },
}


def write_profile(
    monkeypatch: pytest.MonkeyPatch, root: Path, name: str, data: dict[str, Any] | str
) -> Path:
    """Write ``profiles/<name>.json`` under ``root`` and point FIZZ_RESOURCES at ``root``."""
    folder = root / "profiles"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    monkeypatch.setenv("FIZZ_RESOURCES", str(root))
    return path


def with_change(dotted: str, value: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(VALID_PROFILE))
    *parents, leaf = dotted.split(".")
    target = data
    for part in parents:
        target = target[part]
    target[leaf] = value
    return data


def test_profile_from_fizz_resources_loads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    write_profile(monkeypatch, tmp_path, "bad", VALID_PROFILE)
    assert available_profiles() == ["bad"]
    assert load_profile("bad").cpu.min_threads == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cpu.min_threads", 0),
        ("memory.min_gb", "lots"),
        ("gpu.cuda_newer_than", "12"),
        ("gpu.min_vram_free_percent", 101),
        ("storage.surprise", 1),
    ],
)
def test_malformed_profile_names_the_bad_field(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, field: str, value: Any
) -> None:
    path = write_profile(monkeypatch, tmp_path, "bad", with_change(field, value))
    with pytest.raises(ProfileError) as caught:
        load_profile("bad")
    assert f"bad field {field!r}" in caught.value.message
    assert str(path) in caught.value.message
    assert caught.value.remedy == "Reinstall the app to restore it."


def test_profile_missing_a_section_names_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = {k: v for k, v in VALID_PROFILE.items() if k != "gpu"}
    write_profile(monkeypatch, tmp_path, "bad", data)
    with pytest.raises(ProfileError, match="bad field 'gpu'"):
        load_profile("bad")


def test_profile_that_is_not_json_says_where(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write_profile(monkeypatch, tmp_path, "bad", '{\n  "name": "bad",\n  cpu: 1\n}')
    with pytest.raises(ProfileError, match=r"is not valid JSON \(line 3"):
        load_profile("bad")


def test_profile_naming_itself_differently_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write_profile(monkeypatch, tmp_path, "bad", with_change("name", "spheron-fizz"))
    with pytest.raises(ProfileError, match="names itself 'spheron-fizz'"):
        load_profile("bad")


def test_unknown_profile_with_no_profiles_says_none(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FIZZ_RESOURCES", str(tmp_path))
    with pytest.raises(ProfileError) as caught:
        load_profile("spheron-fizz")
    assert caught.value.remedy == "Choose one of: none."
