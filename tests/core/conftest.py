"""Fixtures shared by the core tests: a hand-built hardware report and its verdict; a chain
served over HTTP JSON-RPC (``chain`` and ``rpc``, one per module) behind a keyed proxy
(``proxy``, one per test). A module that defines its own ``chain`` gets ``rpc`` and ``proxy``
over that one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fizz_app.core.checks import Verdict
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
from fizz_app.core.requirements import evaluate, load_profile
from tests.devnet.gateway_env import Chain
from tests.local_network import RpcServer, SwitchableProxy, keyed_proxy, thread_safe_chain

GIB = 1024**3
GB = 1000**3


@pytest.fixture
def sample_report() -> HardwareReport:
    """A desktop with two NVIDIA GPUs (one without a temperature sensor) and a measured link."""
    return HardwareReport(
        cpu=CpuInfo(
            model="AMD Ryzen 9 7950X 16-Core Processor",
            threads=32,
            cores=16,
            arch="x86_64",
            frequency_mhz=5881.0,
        ),
        memory=MemoryInfo(total_bytes=64 * GIB, available_bytes=50 * GIB),
        storage=StorageInfo(
            path="/home/ada/.local/share/FizzNode",
            mountpoint="/home",
            total_bytes=2000 * GB,
            free_bytes=640 * GB,
        ),
        gpu=GpuProbe(
            status="ok",
            detail="2 NVIDIA GPUs",
            driver_version="565.57.01",
            cuda_version="12.7",
            gpus=(
                GpuInfo(
                    index=0,
                    name="NVIDIA GeForce RTX 4090",
                    uuid="GPU-5c6a1e2b-0000-4000-8000-000000004090",
                    pci_device_id="2684",
                    pci_vendor_id="10de",
                    vram_total_bytes=24 * GIB,
                    vram_free_bytes=23 * GIB,
                    temperature_c=41,
                ),
                GpuInfo(
                    index=1,
                    name="NVIDIA RTX A4000",
                    uuid="GPU-5c6a1e2b-0000-4000-8000-00000000a400",
                    pci_device_id="24b0",
                    pci_vendor_id="10de",
                    vram_total_bytes=16 * GIB,
                    vram_free_bytes=4 * GIB,
                    temperature_c=None,
                ),
            ),
        ),
        os=OsInfo(
            system="Linux",
            name="Debian GNU/Linux 12 (bookworm)",
            version="12",
            kernel="6.1.0-18-amd64",
            wsl=False,
        ),
        container_engine=ContainerEngineInfo(
            status="ok",
            endpoint="unix:///run/user/1000/podman/podman.sock",
            name="Podman Engine",
            version="5.2.2",
            detail="answers at unix:///run/user/1000/podman/podman.sock",
        ),
        bandwidth=BandwidthInfo(measured=True, download_mbps=412.5, upload_mbps=88.0),
        probe_seconds=0.1234,
    )


@pytest.fixture
def sample_verdict(sample_report: HardwareReport) -> Verdict:
    """``sample_report`` judged against the real network's profile (one GPU warning)."""
    return evaluate(sample_report, load_profile("spheron-fizz"))


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    """The in-process chain with every contract (:func:`thread_safe_chain`), for one module."""
    return thread_safe_chain(tmp_path_factory.mktemp("chain"))


@pytest.fixture(scope="module")
def rpc(chain: Chain) -> Iterator[RpcServer]:
    """The module's ``chain`` served over HTTP JSON-RPC."""
    with RpcServer(chain.w3) as server:
        yield server


@pytest.fixture
def proxy(rpc: RpcServer) -> Iterator[SwitchableProxy]:
    """The node's way to the chain for one test: a :func:`keyed_proxy` in front of ``rpc`` (a
    password and API keys in its address), forwarding until the test switches it."""
    with keyed_proxy(rpc.address) as running:
        yield running
