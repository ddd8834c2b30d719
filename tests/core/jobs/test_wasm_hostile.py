"""Hostile WebAssembly jobs against the real wasmtime sandbox: each must fail, be stopped or be
reported honestly, and leave the node untouched."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fizz_app.core.jobs.manifest import JobManifest
from fizz_app.core.jobs.runner import EndReason, JobHandle, JobOutcome, RunnerError
from fizz_app.core.jobs.wasm import WasmRunner
from tests.core.jobs import wasm_modules as wm

EPERM, ENOTCAPABLE, EBADF = 63, 76, 8
HUGE_FUEL = {"fuel_per_cpu_second": 10**12, "cpu_seconds_per_lease": 10**6}


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[WasmRunner]:
    """A runner whose leases get 2e7 fuel (a few milliseconds of CPU)."""
    runner = WasmRunner(
        tmp_path / "scratch", fuel_per_cpu_second=20_000_000, cpu_seconds_per_lease=1
    )
    yield runner
    runner.remove_orphans(set())
    assert not [t for t in threading.enumerate() if t.name.startswith("wasm-")]
    if runner.scratch_root.exists():
        assert not list(runner.scratch_root.iterdir())


def run(runner: WasmRunner, manifest: JobManifest, lease_id: str = "lease-1") -> JobOutcome:
    """Run to the end, stop (cleanup), and return how it ended."""
    handle = runner.start(lease_id, manifest, print, lambda line: None)
    outcome = handle.wait(10)
    assert outcome is not None, "the job did not end"
    assert handle.stop() == outcome
    return outcome


def started(runner: WasmRunner, manifest: JobManifest, lease_id: str = "lease-1") -> JobHandle:
    """Start a job that prints "spinning" and wait until it runs wasm code."""
    running = threading.Event()
    handle = runner.start(lease_id, manifest, print, lambda line: running.set())
    assert running.wait(5)
    return handle


def test_hostile_cpu_hog_runs_out_of_fuel(runner: WasmRunner) -> None:
    began = time.monotonic()
    outcome = run(runner, wm.manifest(wm.SPIN))
    assert outcome == JobOutcome(
        EndReason.OUT_OF_FUEL, detail="used its whole budget of 20000000 fuel"
    )
    assert time.monotonic() - began < 2


def test_hostile_cpu_hog_with_fewer_millicores_gets_less_fuel(runner: WasmRunner) -> None:
    handle = runner.start("lease-1", wm.manifest(wm.SPIN, cpu_millicores=250), print, print)
    assert handle.wait(10) is not None
    assert handle.fuel_used == 5_000_000  # type: ignore[attr-defined]
    handle.stop()


def test_hostile_memory_hog_is_oom_killed(runner: WasmRunner) -> None:
    limit = 8 * 1024**2
    handle = runner.start("lease-1", wm.manifest(wm.MEMORY_HOG, memory_bytes=limit), print, print)
    outcome = handle.wait(10)
    assert outcome is not None and outcome.reason is EndReason.OOM_KILLED
    assert "8 MiB limit (memory.grow refused)" in outcome.detail
    assert "unreachable" in outcome.detail
    assert handle.usage().peak_memory_bytes == limit  # grew to the limit and not one page more
    handle.stop()


def test_hostile_allocation_failure_far_below_the_limit_is_oom(runner: WasmRunner) -> None:
    outcome = run(runner, wm.manifest(wm.RUST_OOM))
    assert outcome.reason is EndReason.OOM_KILLED


def test_hostile_trap_without_memory_pressure_is_not_called_oom(runner: WasmRunner) -> None:
    assert run(runner, wm.manifest(wm.DIVIDE_BY_ZERO)).reason is EndReason.FAILED


@pytest.mark.parametrize(
    "args",
    [
        ("/etc/passwd",),
        ("../etc/passwd",),
        ("../../../../../../etc/passwd",),
        ("./../outside",),
        ("/scratch/../etc/passwd",),
        ("/scratch/note",),
        ("/proc/self/environ",),
        (str(Path.home()),),
    ],
)
def test_hostile_paths_outside_scratch_are_refused(runner: WasmRunner, args: tuple[str]) -> None:
    outcome = run(runner, wm.manifest(wm.OPEN_PATH, args=args))
    assert outcome.reason is EndReason.EXITED
    assert outcome.exit_code in (EPERM, ENOTCAPABLE), f"path_open({args[0]!r}) gave {outcome}"


@pytest.mark.parametrize("fd", ["0", "1", "2", "4", "9"])
def test_hostile_paths_from_other_descriptors_are_refused(runner: WasmRunner, fd: str) -> None:
    outcome = run(runner, wm.manifest(wm.OPEN_PATH, args=("etc/passwd", fd)))
    assert outcome == JobOutcome(EndReason.EXITED, EBADF)


def test_hostile_the_scratch_folder_itself_opens(runner: WasmRunner) -> None:
    assert run(runner, wm.manifest(wm.OPEN_PATH, args=(".",))) == JobOutcome(EndReason.EXITED, 0)


def test_hostile_symlink_out_of_scratch_is_not_followed(runner: WasmRunner) -> None:
    passwd = Path("/etc/passwd").read_bytes()
    handle = runner.start("lease-1", wm.manifest(wm.SYMLINK_ESCAPE), print, print)
    outcome = handle.wait(10)
    link = runner.scratch_root / "lease-1" / "link"
    assert link.is_symlink()  # planted, but WASI refuses to follow it out of /scratch
    assert outcome == JobOutcome(EndReason.EXITED, EPERM)
    handle.stop()
    assert Path("/etc/passwd").read_bytes() == passwd  # cleanup did not follow the link either


def test_hostile_only_scratch_is_preopened(runner: WasmRunner) -> None:
    output: list[str] = []
    handle = runner.start("lease-1", wm.manifest(wm.PREOPENS), print, output.append)
    assert handle.wait(10) == JobOutcome(EndReason.EXITED, 0)
    assert output == ["/scratch"]
    handle.stop()


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("wasi_snapshot_preview1", "sock_open"),
        ("wasi_snapshot_preview1", "sock_connect"),
        ("wasi_snapshot_preview1", "sock_accept"),
        ("wasi_snapshot_preview1", "sock_send"),
        ("wasi", "sock_connect"),
        ("env", "connect"),
    ],
)
def test_hostile_socket_imports_are_refused_at_start(
    runner: WasmRunner, module: str, name: str
) -> None:
    """No socket function exists for a wasm job, so the host's loopback is out of reach."""
    with pytest.raises(RunnerError, match=rf"imports {module}\.{name}") as refused:
        runner.start("lease-1", wm.manifest(wm.importing(module, name)), print, print)
    if module == "wasi_snapshot_preview1":
        assert "no network sockets" in str(refused.value)
    assert not (runner.scratch_root / "lease-1").exists()


def test_hostile_job_outliving_its_lease_is_killed(tmp_path: Path) -> None:
    runner = WasmRunner(tmp_path, **HUGE_FUEL)
    handle = started(runner, wm.manifest(wm.SPIN))
    began = time.monotonic()
    outcome = handle.stop(grace=30, reason=EndReason.DEADLINE)
    assert time.monotonic() - began < 1
    assert outcome.reason is EndReason.DEADLINE
    assert not (tmp_path / "lease-1").exists()
    assert not [t for t in threading.enumerate() if t.name.startswith("wasm-")]


def test_hostile_sleeping_job_is_killed_at_its_deadline(runner: WasmRunner) -> None:
    handle = runner.start("lease-1", wm.manifest(wm.sleeper(3600 * 10**9)), print, print)
    time.sleep(0.1)
    began = time.monotonic()
    assert handle.stop(reason=EndReason.DEADLINE).reason is EndReason.DEADLINE
    assert time.monotonic() - began < 1


def test_hostile_endless_start_section_does_not_block_start(tmp_path: Path) -> None:
    runner = WasmRunner(tmp_path, **HUGE_FUEL)
    stuck = wm.module('(func $spin (loop $l (br $l))) (start $spin) (func (export "_start"))')
    began = time.monotonic()
    handle = runner.start("lease-1", wm.manifest(stuck), print, print)
    assert time.monotonic() - began < 0.5
    assert handle.wait(0.2) is None
    assert handle.stop(reason=EndReason.DEADLINE).reason is EndReason.DEADLINE


def test_hostile_stopping_one_job_leaves_the_others_running(tmp_path: Path) -> None:
    runner = WasmRunner(tmp_path, **HUGE_FUEL)
    first = started(runner, wm.manifest(wm.SPIN), "first")
    second = started(runner, wm.manifest(wm.SPIN), "second")
    assert first.stop().reason is EndReason.STOPPED
    assert second.wait(0.2) is None  # each lease has its own engine epoch
    assert second.stop().reason is EndReason.STOPPED


def test_hostile_many_concurrent_jobs_do_not_interfere(runner: WasmRunner) -> None:
    def one(index: int) -> tuple[JobOutcome | None, list[str], JobOutcome | None]:
        output: list[str] = []
        lease = f"lease-{index}"
        if index % 3 == 0:
            manifest = wm.manifest(wm.SPIN)
        elif index % 3 == 1:
            manifest = wm.manifest(wm.ARGS_ENV, args=(str(index),), env={"LEASE": lease})
        else:
            manifest = wm.manifest(wm.MEMORY_HOG, memory_bytes=4 * 1024**2)
        handle = runner.start(lease, manifest, print, output.append)
        outcome = handle.wait(10)
        return outcome, output, handle.stop()

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(one, range(12)))
    for index, (outcome, output, final) in enumerate(results):
        assert final == outcome
        if index % 3 == 0:
            assert outcome is not None and outcome.reason is EndReason.OUT_OF_FUEL
        elif index % 3 == 1:
            assert outcome == JobOutcome(EndReason.EXITED, 0)
            assert output == ["wasm-test", str(index), f"LEASE=lease-{index}"]
        else:
            assert outcome is not None and outcome.reason is EndReason.OOM_KILLED


def test_hostile_endless_line_is_cut_into_bounded_lines(runner: WasmRunner) -> None:
    flood = wm.module("""
      (func (export "_start") (local $i i32)
        (memory.fill (i32.const 1024) (i32.const 65) (i32.const 40000))
        (call $print (i32.const 1024) (i32.const 40000)))
    """)
    output: list[str] = []
    handle = runner.start("lease-1", wm.manifest(flood), print, output.append)
    assert handle.wait(10) == JobOutcome(EndReason.EXITED, 0)
    handle.stop()
    assert [len(line) for line in output] == [16384, 16384, 7232]


def test_hostile_disk_hog_is_stopped_at_the_lease_storage(runner: WasmRunner) -> None:
    runner = WasmRunner(runner.scratch_root, **HUGE_FUEL)
    handle = runner.start(
        "lease-1", wm.manifest(wm.DISK_HOG, storage_bytes=2 * 1024**2), print, print
    )
    outcome = handle.wait(20)
    assert outcome is not None, "the disk hog was not stopped"
    assert outcome.reason is EndReason.FAILED
    assert "to /scratch; the lease allows 2.0 MiB" in outcome.detail
    scratch = runner.scratch_root / "lease-1"
    handle.stop()
    assert not scratch.exists()
