"""WasmRunner lifecycle against real wasmtime: output, exit codes, args/env, scratch, errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fizz_app.core.jobs.manifest import JobManifest
from fizz_app.core.jobs.runner import (
    EndReason,
    JobHandle,
    JobOutcome,
    JobRunner,
    RunnerError,
)
from fizz_app.core.jobs.wasm import WasmRunner
from tests.core.jobs import wasm_modules as wm


def wasm_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("wasm-")]


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[WasmRunner]:
    runner = WasmRunner(tmp_path / "scratch")
    yield runner
    runner.remove_orphans(set())
    assert not wasm_threads(), "a wasm worker thread outlived its job"
    if runner.scratch_root.exists():
        assert not list(runner.scratch_root.iterdir()), "a scratch folder outlived its job"


class Run:
    """One job run to its end: its handle, log lines and output lines."""

    def __init__(self, runner: WasmRunner, manifest: JobManifest, lease_id: str = "lease-1"):
        self.log: list[str] = []
        self.output: list[str] = []
        runner.prepare(lease_id, manifest, self.log.append)
        self.handle: JobHandle = runner.start(
            lease_id, manifest, self.log.append, self.output.append
        )
        self.outcome: JobOutcome | None = self.handle.wait(10)


def test_runner_offers_wasm_and_is_available(runner: WasmRunner) -> None:
    as_protocol: JobRunner = runner  # mypy checks the protocol; JobRunner is not runtime-checkable
    assert as_protocol.runtime.value == "wasm"
    assert runner.available()
    assert runner.adopt(lambda lease_id: print) == []


def test_hello_prints_its_output_under_a_fuel_limit(runner: WasmRunner) -> None:
    run = Run(runner, wm.manifest(wm.HELLO))
    assert isinstance(run.handle, JobHandle)
    assert run.outcome == JobOutcome(EndReason.EXITED, 0)
    assert run.output == ["hello from wasm", "second line"]
    assert run.log[0] == "Initializing deployment…"
    assert run.log[1] == "Compiling WebAssembly module…"
    assert run.log[-2:] == ["Starting module…", "Deployment startup complete"]
    assert 0 < run.handle.fuel_used < runner.fuel_for(wm.manifest(wm.HELLO))  # type: ignore[attr-defined]
    usage = run.handle.usage()
    assert usage.cpu_seconds > 0
    assert usage.peak_memory_bytes == 65536
    assert (usage.bytes_in, usage.bytes_out) == (0, 0)
    assert run.handle.ports == {}
    assert run.handle.outcome() == run.outcome


def test_exit_code_is_reported(runner: WasmRunner) -> None:
    run = Run(runner, wm.manifest(wm.EXIT_3))
    assert run.outcome == JobOutcome(EndReason.EXITED, 3)
    assert run.output == ["bye"]


def test_output_streams_while_the_module_runs(runner: WasmRunner) -> None:
    seen = threading.Event()
    handle = runner.start(
        "lease-1",
        wm.manifest(wm.SPIN),
        print,
        lambda line: seen.set() if line == "spinning" else None,
    )
    assert seen.wait(5), "the first line arrived only at the end, or never"
    assert handle.outcome() is None and handle.wait(0.05) is None
    assert handle.usage().cpu_seconds > 0  # read from the running thread's CPU clock
    assert handle.stop() == JobOutcome(EndReason.STOPPED, detail="interrupted by the node")


def test_args_and_env_are_visible_to_the_module(runner: WasmRunner) -> None:
    manifest = wm.manifest(
        wm.ARGS_ENV, command=("serve",), args=("--n", "3"), env={"GREETING": "hi there", "N": "3"}
    )
    run = Run(runner, manifest)
    assert run.outcome == JobOutcome(EndReason.EXITED, 0)
    assert run.output == ["wasm-test", "serve", "--n", "3", "GREETING=hi there", "N=3"]


def test_scratch_file_is_written_and_read_and_removed_on_stop(runner: WasmRunner) -> None:
    run = Run(runner, wm.manifest(wm.SCRATCH), "lease-7")
    assert run.outcome == JobOutcome(EndReason.EXITED, 0)
    assert run.output == ["kept in scratch"]
    scratch = runner.scratch_root / "lease-7"
    assert (scratch / "note.txt").read_text() == "kept in scratch\n"
    assert scratch.stat().st_mode & 0o777 == 0o700
    assert run.handle.stop() == run.outcome  # ended by itself: that outcome stands
    assert not scratch.exists()
    assert run.handle.stop() == run.outcome  # idempotent


def test_sleep_is_served_and_ends_on_time(runner: WasmRunner) -> None:
    began = time.monotonic()
    run = Run(runner, wm.manifest(wm.sleeper(50_000_000)))
    assert run.outcome == JobOutcome(EndReason.EXITED, 0)
    assert run.output == ["awake"]
    assert time.monotonic() - began >= 0.05
    run.handle.stop()


def test_a_trap_is_reported_with_its_message(runner: WasmRunner) -> None:
    run = Run(runner, wm.manifest(wm.DIVIDE_BY_ZERO))
    assert run.outcome == JobOutcome(EndReason.FAILED, detail="wasm trap: integer divide by zero")
    run.handle.stop()


def test_a_module_that_does_not_compile_is_refused_with_the_cause(runner: WasmRunner) -> None:
    manifest = wm.manifest(b"\0asm\x01\0\0\0\x01\xff")
    with pytest.raises(RunnerError, match="does not compile: .+; send a valid wasm32-wasip1"):
        runner.prepare("lease-1", manifest, print)
    with pytest.raises(RunnerError, match="does not compile"):
        runner.start("lease-1", manifest, print, print)
    assert not (runner.scratch_root / "lease-1").exists()


def test_a_non_wasi_import_is_refused_before_anything_runs(runner: WasmRunner) -> None:
    manifest = wm.manifest(wm.importing("env", "host_secret"))
    with pytest.raises(RunnerError, match=r"imports env\.host_secret.*only WASI preview 1"):
        runner.prepare("lease-1", manifest, print)
    with pytest.raises(RunnerError, match="env.host_secret"):
        runner.start("lease-1", manifest, print, print)
    assert not (runner.scratch_root / "lease-1").exists()


def test_an_unknown_wasi_function_is_refused(runner: WasmRunner) -> None:
    manifest = wm.manifest(wm.importing("wasi_snapshot_preview1", "thread_spawn"))
    with pytest.raises(RunnerError, match="thread_spawn, which is not a WASI preview 1 function"):
        runner.start("lease-1", manifest, print, print)


def test_a_module_without_start_is_refused(runner: WasmRunner) -> None:
    library = wm.module('(func (export "add") (param i32 i32) (result i32) (i32.const 0))')
    with pytest.raises(RunnerError, match="exports no _start function"):
        runner.prepare("lease-1", wm.manifest(library), print)


def test_a_module_needing_more_memory_than_the_lease_is_refused(runner: WasmRunner) -> None:
    big = wm.module('(func (export "_start"))', pages=512)  # 32 MiB at start
    with pytest.raises(RunnerError, match="needs 32 MiB of memory at start but lease lease-1"):
        runner.start("lease-1", wm.manifest(big, memory_bytes=8 * 1024**2), print, print)
    assert not (runner.scratch_root / "lease-1").exists()


def test_compiled_modules_are_cached_and_start_is_fast(runner: WasmRunner) -> None:
    manifest = wm.manifest(wm.HELLO)
    first: list[str] = []
    runner.prepare("lease-1", manifest, first.append)
    again: list[str] = []
    runner.prepare("lease-2", manifest, again.append)
    assert first[-1].startswith("Compiled in ") and again[-1] == "WebAssembly module ready (cached)"
    began = time.perf_counter()
    handle = runner.start("lease-1", manifest, print, lambda line: None)
    started = time.perf_counter() - began
    assert handle.wait(5) == JobOutcome(EndReason.EXITED, 0)
    handle.stop()
    assert started < 0.05, f"start took {started * 1000:.1f} ms (target 50 ms)"


def test_fuel_scales_with_millicores(tmp_path: Path) -> None:
    runner = WasmRunner(tmp_path, fuel_per_cpu_second=1000, cpu_seconds_per_lease=10)
    assert runner.fuel_for(wm.manifest(wm.HELLO, cpu_millicores=1000)) == 10_000
    assert runner.fuel_for(wm.manifest(wm.HELLO, cpu_millicores=500)) == 5_000
    assert runner.fuel_for(wm.manifest(wm.HELLO, cpu_millicores=2000)) == 20_000
    with pytest.raises(ValueError, match="must be positive"):
        WasmRunner(tmp_path, fuel_per_cpu_second=0)


def test_bad_lease_ids_and_duplicate_leases_are_refused(runner: WasmRunner) -> None:
    with pytest.raises(RunnerError, match="cannot name a scratch folder"):
        runner.start("../escape", wm.manifest(wm.HELLO), print, print)
    handle = runner.start("lease-1", wm.manifest(wm.SPIN), print, lambda line: None)
    with pytest.raises(RunnerError, match="already runs a wasm job"):
        runner.start("lease-1", wm.manifest(wm.HELLO), print, print)
    handle.stop()
    assert not (runner.scratch_root.parent / "escape").exists()


def test_remove_orphans_stops_jobs_and_deletes_leftover_folders(runner: WasmRunner) -> None:
    leftover = runner.scratch_root / "crashed-lease"
    leftover.mkdir(parents=True)
    (leftover / "data").write_text("from before the crash")
    kept = runner.start("kept", wm.manifest(wm.SPIN), print, lambda line: None)
    orphan = runner.start("orphan", wm.manifest(wm.SPIN), print, lambda line: None)
    removed = runner.remove_orphans({"kept"})
    assert sorted(removed) == ["crashed-lease", "orphan"]
    assert orphan.outcome() == JobOutcome(EndReason.STOPPED, detail="interrupted by the node")
    assert kept.outcome() is None and (runner.scratch_root / "kept").is_dir()
    assert sorted(p.name for p in runner.scratch_root.iterdir()) == ["kept"]
    kept.stop()
