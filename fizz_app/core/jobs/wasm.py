"""Run WebAssembly (WASI preview 1 command) jobs in-process with wasmtime: no container engine.

The sandbox, per lease:

* **Files**: only ``<scratch_root>/<lease id>/`` (mode 0700), seen by the module as ``/scratch``,
  is preopened; WASI resolves every path inside a preopen, so ``/etc/passwd``, ``../`` and
  symlinks that leave it fail with ``ENOTCAPABLE``/``EPERM``. stdin is empty.
* **Imports**: only ``wasi_snapshot_preview1`` functions, and none of its ``sock_*`` ones: a module
  that imports anything else is refused before it runs. There is no network at all.
* **CPU**: fuel. A lease gets ``fuel_per_cpu_second * cpu_seconds_per_lease * cpu_millicores /
  1000`` units (one unit is about one wasm instruction); at zero the job ends ``OUT_OF_FUEL``.
  A module runs on one thread, so it never uses more than one core at a time.
* **Memory**: the store limits linear memory to ``manifest.memory_bytes`` (and to one memory,
  one instance); past it ``memory.grow`` returns -1. That is not a trap, so the job is reported
  ``OOM_KILLED`` only when it then fails (a trap or a non-zero exit) with evidence: its memory
  stands within one 64 KiB page of the limit, or it printed Rust's "memory allocation of N bytes
  failed" for an N beyond what was left. Other failures are ``FAILED`` with the trap's message;
  a module that copes with the refusal just goes on.
* **Time**: each lease has its own wasmtime engine, so ``stop()`` interrupts exactly that job by
  bumping its engine's epoch: the next loop iteration or call traps, however much fuel is left
  (stop, join and cleanup take about a millisecond). Sleeping (``poll_oneoff``) is served
  here and cut short by ``stop()`` too.
  Lease deadlines are the lease manager's: it calls ``stop(reason=EndReason.DEADLINE)``.
* **Storage**: WASI has no quota, so a watcher samples ``/scratch`` every 100 ms and ends the
  job ``FAILED`` once it holds more than ``manifest.storage_bytes`` (a fast writer can overshoot
  by what it writes in one interval before it is stopped).

Compiled modules are cached by the SHA-256 of their bytes, so ``start`` after ``prepare`` only
loads machine code (well under a millisecond for small modules). Wasm jobs live in this process:
they die with it, so there is nothing to adopt after a crash, only scratch folders to remove.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .manifest import JobManifest, Runtime
from .runner import EndReason, JobHandle, JobOutcome, JobUsage, LogSink, RunnerError

try:
    import wasmtime

    _IMPORT_ERROR = ""
except ImportError as error:  # a broken bundle without the native library: wasm jobs are off
    _IMPORT_ERROR = str(error)

__all__ = ["WasmRunner", "WASI_MODULE"]

WASI_MODULE = "wasi_snapshot_preview1"
_WASI_FUNCTIONS = frozenset(
    """args_get args_sizes_get environ_get environ_sizes_get clock_res_get clock_time_get
    fd_advise fd_allocate fd_close fd_datasync fd_fdstat_get fd_fdstat_set_flags
    fd_fdstat_set_rights fd_filestat_get fd_filestat_set_size fd_filestat_set_times fd_pread
    fd_prestat_get fd_prestat_dir_name fd_pwrite fd_read fd_readdir fd_renumber fd_seek fd_sync
    fd_tell fd_write path_create_directory path_filestat_get path_filestat_set_times path_link
    path_open path_readlink path_remove_directory path_rename path_symlink path_unlink_file
    poll_oneoff proc_exit proc_raise sched_yield random_get""".split()
)
_LEASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_PAGE = 65536
_MAX_LINE = 16 * 1024
_CACHE_BYTES = 256 * 1024**2
_EFAULT, _EINTR, _EINVAL = 21, 27, 28  # WASI errno values
_ALLOC_FAILED = re.compile(rb"memory allocation of ([0-9]{1,19}) bytes failed")
_LOG = logging.getLogger(__name__)
_SCRATCH_CHECK_S = 0.1


def _folder_bytes(folder: Path) -> int:
    """Bytes allocated under ``folder`` (symlinks not followed; vanished entries skipped)."""
    total = 0
    stack = [folder]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                else:
                    info = entry.stat(follow_symlinks=False)
                    # Allocated blocks where known: a sparse file must not dodge the limit by
                    # size, nor a small file count as a whole block.
                    total += max(info.st_size, getattr(info, "st_blocks", 0) * 512)
            except OSError:
                continue
    return total


def _config() -> wasmtime.Config:
    config = wasmtime.Config()
    config.consume_fuel = True
    config.epoch_interruption = True
    # One compile thread: a stranger's 32 MiB module must not take every core of the laptop.
    config.parallel_compilation = False
    return config


def _cause(error: Exception) -> str:
    """The last line of a wasmtime message ("wasm trap: ..."), without the backtrace."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def _check_module(module: wasmtime.Module) -> int:
    """Refuse what the node does not offer; return the memory the module needs at start."""
    for imported in module.imports:
        where = f"{imported.module}.{imported.name}"
        if imported.module != WASI_MODULE:
            raise RunnerError(
                f"The WebAssembly module imports {where}, but a Fizz node offers only WASI "
                f"preview 1 ({WASI_MODULE}); build it for wasm32-wasip1 without other imports."
            )
        if str(imported.name).startswith("sock_"):
            raise RunnerError(
                f"The WebAssembly module imports {where}, but wasm jobs get no network sockets; "
                "remove the networking code or run the job as a container."
            )
        if imported.name not in _WASI_FUNCTIONS or not isinstance(imported.type, wasmtime.FuncType):
            raise RunnerError(
                f"The WebAssembly module imports {where}, which is not a WASI preview 1 "
                "function; build it for wasm32-wasip1."
            )
    start = next((e for e in module.exports if e.name == "_start"), None)
    if start is None or not isinstance(start.type, wasmtime.FuncType):
        raise RunnerError(
            "The WebAssembly module exports no _start function; build it as a WASI command "
            "(a program with main), not as a library or reactor."
        )
    memories = [e.type for e in module.exports if isinstance(e.type, wasmtime.MemoryType)]
    return max((m.limits.min * _PAGE for m in memories), default=0)


class _Lines:
    """Turns the module's writes to stdout or stderr into lines for ``on_output`` as they come."""

    def __init__(self, sink: LogSink) -> None:
        self._sink = sink
        self._buffer = bytearray()
        self.refused_bytes = 0
        """Largest allocation the module said failed (Rust's "memory allocation of N bytes
        failed"): evidence of an out-of-memory end when memory stopped short of the limit."""

    def write(self, data: bytes) -> None:
        self._buffer += data
        while True:
            cut = self._buffer.find(b"\n")
            if cut < 0 and len(self._buffer) < _MAX_LINE:
                return
            end = cut if 0 <= cut < _MAX_LINE else _MAX_LINE
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1 if end == cut else end]
            self._emit(line)

    def flush(self) -> None:
        if self._buffer:
            self._emit(bytes(self._buffer))
            self._buffer.clear()

    def _emit(self, line: bytes) -> None:
        refused = _ALLOC_FAILED.search(line)
        if refused:
            self.refused_bytes = max(self.refused_bytes, int(refused.group(1)))
        try:
            self._sink(line.decode("utf-8", "replace").rstrip("\r"))
        except Exception:  # a broken sink must not fail the job's own write
            _LOG.exception("The output sink of a wasm job failed")


class _WasmJob:
    """One running module: its own engine, store and worker thread."""

    def __init__(
        self,
        lease_id: str,
        manifest: JobManifest,
        compiled: bytes,
        scratch: Path,
        fuel: int,
        on_output: LogSink,
        forget: Callable[[str], None],
    ) -> None:
        self._lease_id = lease_id
        self._scratch = scratch
        self._fuel = fuel
        self._limit = manifest.memory_bytes
        self._storage_limit = manifest.storage_bytes
        self._stop_detail = "interrupted by the node"
        self._forget = forget
        self._lock = threading.Lock()
        self._done, self._stopping = threading.Event(), threading.Event()
        self._outcome: JobOutcome | None = None
        self._stop_reason: EndReason | None = None
        self._cleaned = False
        self._cpu = self._cpu_began = 0.0
        self._peak = 0
        self.fuel_used = 0
        """Fuel the job burnt (known once it has ended)."""
        self._out, self._err = _Lines(on_output), _Lines(on_output)
        self._engine = wasmtime.Engine(_config())
        self._module = wasmtime.Module.deserialize(self._engine, compiled)
        self._store = wasmtime.Store(self._engine)
        self._store.set_fuel(fuel)
        self._store.set_epoch_deadline(1)  # this engine's epoch moves only when stop() asks
        # memory_size, table_elements, instances, tables, memories: one of each, all bounded.
        self._store.set_limits(manifest.memory_bytes, 1 << 20, 1, 4, 1)
        wasi = wasmtime.WasiConfig()
        wasi.argv = [manifest.name, *manifest.command, *manifest.args]
        wasi.env = [[name, value] for name, value in manifest.env.items()]
        wasi.preopen_dir(str(scratch), "/scratch")
        wasi.stdout_custom = self._out.write
        wasi.stderr_custom = self._err.write
        # WASI's monotonic clock counts from the context's creation, which is now.
        self._clock_origin = time.monotonic_ns()
        self._store.set_wasi(wasi)
        self._linker = wasmtime.Linker(self._engine)
        self._linker.define_wasi()
        self._linker.allow_shadowing = True
        i32 = wasmtime.ValType.i32()
        poll_type = wasmtime.FuncType([i32, i32, i32, i32], [i32])
        self._linker.define_func(WASI_MODULE, "poll_oneoff", poll_type, self._poll_oneoff, True)
        self._thread = threading.Thread(target=self._run, name=f"wasm-{lease_id}", daemon=True)
        self._watcher = threading.Thread(
            target=self._watch_scratch, name=f"wasm-{lease_id}-scratch", daemon=True
        )

    @property
    def lease_id(self) -> str:
        return self._lease_id

    @property
    def ports(self) -> dict[int, int]:
        return {}  # a wasm job has no network

    def outcome(self) -> JobOutcome | None:
        return self._outcome

    def wait(self, timeout: float | None = None) -> JobOutcome | None:
        self._done.wait(timeout)
        return self._outcome

    def usage(self) -> JobUsage:
        """CPU time is the worker thread's own (its CPU clock while it runs); peak memory is the
        linear memory's size, which only grows, read when the job starts and when it ends."""
        cpu = self._cpu
        ident = self._thread.ident
        if not self._done.is_set() and ident is not None and hasattr(time, "pthread_getcpuclockid"):
            try:
                cpu = time.clock_gettime(time.pthread_getcpuclockid(ident)) - self._cpu_began
            except OSError:  # the thread ended just now; _cpu is set in a moment
                cpu = self._cpu
        return JobUsage(cpu_seconds=max(cpu, 0.0), peak_memory_bytes=self._peak)

    def stop(self, grace: float = 5.0, reason: EndReason = EndReason.STOPPED) -> JobOutcome:
        """Interrupt the module at once (wasm has no SIGTERM to honour, so ``grace`` is unused),
        wait for its thread, and delete its scratch folder. Safe to call twice."""
        self._interrupt(reason, "interrupted by the node")
        for thread in (self._thread, self._watcher):
            if thread.ident is not None and thread is not threading.current_thread():
                thread.join()
        with self._lock:
            if not self._cleaned:
                self._cleaned = True
                shutil.rmtree(self._scratch, ignore_errors=True)
                self._forget(self._lease_id)
        outcome = self._outcome
        return outcome if outcome is not None else JobOutcome(reason)

    def launch(self) -> None:
        self._thread.start()
        self._watcher.start()

    def _interrupt(self, reason: EndReason, detail: str) -> None:
        with self._lock:
            if self._outcome is None and self._stop_reason is None:
                self._stop_reason, self._stop_detail = reason, detail
                self._stopping.set()
                self._engine.increment_epoch()  # alive: the worker closes it under this lock

    def _watch_scratch(self) -> None:
        """Enforce the lease's storage on /scratch. WASI has no quota, so this samples the
        folder's size; a fast writer may overshoot by what it writes in one interval."""
        while not self._done.wait(_SCRATCH_CHECK_S):
            used = _folder_bytes(self._scratch)
            if used > self._storage_limit:
                self._interrupt(
                    EndReason.FAILED,
                    f"it wrote {used / 1024**2:.1f} MiB to /scratch; the lease allows "
                    f"{self._storage_limit / 1024**2:.1f} MiB",
                )
                return

    def _run(self) -> None:
        self._cpu_began = time.thread_time()
        store = self._store
        memory: Any = None
        exit_code: int | None = None
        trap: Exception | None = None
        try:
            instance = self._linker.instantiate(store, self._module)
            exports = instance.exports(store)
            memory = exports.get("memory")
            if isinstance(memory, wasmtime.Memory):
                self._peak = memory.data_len(store)
            entry = exports["_start"]
            if isinstance(entry, wasmtime.Func):  # _check_module made sure it is one
                entry(store)
            exit_code = 0
        except wasmtime.ExitTrap as exited:
            exit_code = exited.code
        except Exception as error:  # a trap, an interrupt, or a link error at instantiation
            trap = error
        finally:
            self._out.flush()
            self._err.flush()
            if isinstance(memory, wasmtime.Memory):
                self._peak = max(self._peak, memory.data_len(store))
            self.fuel_used = self._fuel - store.get_fuel()
            self._cpu = time.thread_time() - self._cpu_began
            with self._lock:
                self._outcome = self._judge(exit_code, trap)
                # Free the engine, code, memory and the preopened folder's handle now.
                for item in (self._linker, store, self._module, self._engine):
                    item.close()
            self._done.set()

    def _judge(self, exit_code: int | None, trap: Exception | None) -> JobOutcome:
        if self._stop_reason is not None:
            return JobOutcome(self._stop_reason, detail=self._stop_detail)
        code = getattr(trap, "trap_code", None)
        if code == wasmtime.TrapCode.OUT_OF_FUEL:
            return JobOutcome(
                EndReason.OUT_OF_FUEL, detail=f"used its whole budget of {self._fuel} fuel"
            )
        headroom = self._limit - self._peak
        refused = max(self._out.refused_bytes, self._err.refused_bytes)
        if (exit_code != 0 or trap is not None) and (headroom < _PAGE or refused > headroom):
            why = _cause(trap) if trap is not None else f"exit code {exit_code}"
            return JobOutcome(
                EndReason.OOM_KILLED,
                exit_code,
                f"linear memory reached the lease's {self._limit // 1024**2} MiB limit "
                f"(memory.grow refused), then the module failed: {why}",
            )
        if trap is None:
            return JobOutcome(EndReason.EXITED, exit_code)
        return JobOutcome(EndReason.FAILED, detail=_cause(trap))

    def _poll_oneoff(self, caller: Any, subs: int, events: int, count: int, nout: int) -> int:
        """WASI ``poll_oneoff`` that ``stop()`` can cut short (wasmtime's own sleeps through an
        epoch interrupt). Clock subscriptions wait; fd ones (stdin, stdout, files) are always
        ready. Never raises: the Python binding keeps a host exception in a global, where another
        job's thread could pick it up."""
        try:
            memory = caller.get("memory")
            if not isinstance(memory, wasmtime.Memory) or not 0 < count <= 1024:
                return _EINVAL
            raw = memory.read(caller, subs, subs + 48 * count)
            if len(raw) != 48 * count:
                return _EFAULT
            entries: list[tuple[int, int, int]] = []  # (userdata, kind, nanoseconds to wait)
            for base in range(0, len(raw), 48):
                userdata, kind = struct.unpack_from("<QB", raw, base)
                delay = 0
                if kind == 0:
                    clock, timeout, _, flags = struct.unpack_from("<I4xQQH", raw, base + 16)
                    if flags & 1 and clock == 0:
                        delay = timeout - time.time_ns()
                    elif flags & 1 and clock == 1:
                        delay = timeout - (time.monotonic_ns() - self._clock_origin)
                    elif flags & 1:
                        return _EINVAL
                    else:
                        delay = timeout
                elif kind not in (1, 2):
                    return _EINVAL
                entries.append((userdata, kind, max(delay, 0)))
            wait = 0 if any(kind for _, kind, _ in entries) else min(d for _, _, d in entries)
            if wait and self._stopping.wait(min(wait / 1e9, threading.TIMEOUT_MAX)):
                return _EINTR
            ready = [(data, kind) for data, kind, delay in entries if kind or delay <= wait]
            out = b"".join(struct.pack("<QHB5xQH6x", data, 0, kind, 0, 0) for data, kind in ready)
            memory.write(caller, out, events)
            memory.write(caller, struct.pack("<I", len(ready)), nout)
            return 0
        except (IndexError, ValueError, struct.error):
            return _EFAULT


class WasmRunner:
    """The :class:`~.runner.JobRunner` for ``runtime: wasm`` manifests.

    Args:
        scratch_root: a folder only this runner uses; each lease gets ``<scratch_root>/<lease>``.
        fuel_per_cpu_second: fuel units one core burns in a second (wasmtime runs roughly 1e9
            simple instructions a second on a laptop core).
        cpu_seconds_per_lease: CPU-seconds a 1000-millicore lease may use in all; a lease's fuel
            scales with its millicores.
    """

    runtime = Runtime.WASM

    def __init__(
        self,
        scratch_root: Path,
        *,
        fuel_per_cpu_second: int = 1_000_000_000,
        cpu_seconds_per_lease: float = 3600.0,
    ) -> None:
        if fuel_per_cpu_second <= 0 or cpu_seconds_per_lease <= 0:
            raise ValueError("fuel_per_cpu_second and cpu_seconds_per_lease must be positive")
        self.scratch_root = Path(scratch_root)
        self.fuel_per_cpu_second = fuel_per_cpu_second
        self.cpu_seconds_per_lease = cpu_seconds_per_lease
        self._lock = threading.Lock()
        self._compiler: wasmtime.Engine | None = None
        self._cache: OrderedDict[str, tuple[bytes, int]] = OrderedDict()
        self._jobs: dict[str, _WasmJob] = {}

    def available(self) -> bool:
        return not _IMPORT_ERROR

    def fuel_for(self, manifest: JobManifest) -> int:
        """The fuel budget a lease with this manifest gets."""
        seconds = self.cpu_seconds_per_lease * manifest.cpu_millicores / 1000
        return max(1, int(self.fuel_per_cpu_second * seconds))

    def prepare(self, lease_id: str, manifest: JobManifest, log: LogSink) -> None:
        """Check and compile the module (cached, so ``start`` is fast). Raises
        :class:`RunnerError` naming what is wrong with the module."""
        log("Initializing deployment…")
        module = self._check(lease_id, manifest)
        log("Compiling WebAssembly module…")
        began = time.perf_counter()
        _, cached = self._compiled(module)
        spent = (time.perf_counter() - began) * 1000
        log("WebAssembly module ready (cached)" if cached else f"Compiled in {spent:.0f} ms")

    def start(
        self, lease_id: str, manifest: JobManifest, log: LogSink, on_output: LogSink
    ) -> JobHandle:
        """Run the module's ``_start`` in a thread with argv ``[name, *command, *args]``, the
        manifest's env, and ``/scratch``. The module's stdout and stderr lines go to
        ``on_output`` as they are written. Raises :class:`RunnerError`, leaving nothing behind."""
        (compiled, needs), _ = self._compiled(self._check(lease_id, manifest))
        if needs > manifest.memory_bytes:
            raise RunnerError(
                f"The WebAssembly module needs {needs // 1024**2} MiB of memory at start but lease "
                f"{lease_id} allows {manifest.memory_bytes // 1024**2} MiB; ask for more memory."
            )
        log("Starting module…")
        scratch = self.scratch_root / lease_id
        with self._lock:
            if lease_id in self._jobs:
                raise RunnerError(f"Lease {lease_id} already runs a wasm job; stop it first.")
            try:
                self.scratch_root.mkdir(mode=0o700, parents=True, exist_ok=True)
                shutil.rmtree(scratch, ignore_errors=True)  # a crashed run's leftovers
                scratch.mkdir(mode=0o700)
                job = _WasmJob(
                    lease_id,
                    manifest,
                    compiled,
                    scratch,
                    self.fuel_for(manifest),
                    on_output,
                    self._forget,
                )
            except (OSError, wasmtime.WasmtimeError) as error:
                shutil.rmtree(scratch, ignore_errors=True)
                raise RunnerError(
                    f"Could not set up the wasm job of lease {lease_id}: {_cause(error)}.",
                    f"Check that {self.scratch_root} is on a writable disk with free space.",
                ) from None
            self._jobs[lease_id] = job
            job.launch()  # under the lock, so remove_orphans never sees an unlaunched job
        log("Deployment startup complete")
        return job

    def adopt(self, on_output: Callable[[str], LogSink]) -> list[JobHandle]:
        """Always ``[]``: wasm jobs run inside this process and ended with the previous one.
        Call :meth:`remove_orphans` to delete their scratch folders."""
        return []

    def remove_orphans(self, keep: set[str]) -> list[str]:
        """Stop running jobs and delete scratch folders whose lease id is not in ``keep``."""
        removed: list[str] = []
        with self._lock:
            running = dict(self._jobs)
        for lease_id, job in running.items():
            if lease_id not in keep:
                job.stop(0, EndReason.STOPPED)
                removed.append(lease_id)
        if self.scratch_root.is_dir():
            for entry in self.scratch_root.iterdir():
                if entry.name in keep or entry.name in running or not _LEASE_ID.match(entry.name):
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
                removed.append(entry.name)
        return removed

    def _forget(self, lease_id: str) -> None:
        with self._lock:
            self._jobs.pop(lease_id, None)

    def _check(self, lease_id: str, manifest: JobManifest) -> bytes:
        if _IMPORT_ERROR:
            raise RunnerError(
                f"WebAssembly jobs are unavailable: {_IMPORT_ERROR}.",
                "Reinstall Fizz Node; the wasmtime library is missing.",
            )
        if not _LEASE_ID.match(lease_id):
            raise RunnerError(f"Lease id {lease_id!r} cannot name a scratch folder.")
        if manifest.runtime is not Runtime.WASM or not manifest.wasm_module:
            raise RunnerError(f"Lease {lease_id} is not a wasm job: its manifest has no module.")
        return manifest.wasm_module

    def _compiled(self, wasm: bytes) -> tuple[tuple[bytes, int], bool]:
        """Machine code for ``wasm`` (serialized), the memory it needs at start, and whether
        it came from the cache."""
        digest = hashlib.sha256(wasm).hexdigest()
        with self._lock:
            if digest in self._cache:
                self._cache.move_to_end(digest)
                return self._cache[digest], True
            if self._compiler is None:
                self._compiler = wasmtime.Engine(_config())
            compiler = self._compiler
        try:
            module = wasmtime.Module(compiler, wasm)
        except wasmtime.WasmtimeError as error:
            raise RunnerError(
                f"The WebAssembly module does not compile: {_cause(error)}; "
                "send a valid wasm32-wasip1 binary."
            ) from None
        try:
            compiled = (bytes(module.serialize()), _check_module(module))
        finally:
            module.close()
        with self._lock:
            self._cache[digest] = compiled
            while (
                sum(len(c) for c, _ in self._cache.values()) > _CACHE_BYTES and len(self._cache) > 1
            ):
                self._cache.popitem(last=False)
        return compiled, False
