"""The lease lifecycle: pending → preparing → starting → running → closing → closed (or failed,
with a reason), persisted in the lease book so a restarted node picks up where it was.

:class:`LeaseManager` is the one object the node engine talks to about jobs:

- :meth:`~LeaseManager.submit` validates a manifest against what the node still offers and
  starts the job in a worker thread; it never blocks on an image pull.
- :meth:`~LeaseManager.close` stops a lease; the runner leaves nothing behind.
- :meth:`~LeaseManager.poll` (call it every second or so) notices jobs that ended by themselves,
  kills jobs that outlive their lease, and records usage.
- :meth:`~LeaseManager.recover` (call once at start) re-adopts containers that kept running
  while the node was down, fails honestly what was lost, and removes orphans.

Every change is reported to ``on_change`` with a :class:`Lease` snapshot, from whichever thread
made it; the engine turns those into events and gateway messages.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..errors import UserFacingError
from .lease_store import Lease, LeaseState, LeaseStore
from .manifest import Capacity, JobManifest, ManifestError, Runtime, check_fits, parse_manifest
from .runner import EndReason, JobHandle, JobOutcome, JobRunner, LogSink, RunnerError

__all__ = ["LeaseManager", "LeaseError", "LogLine", "RecoveryReport"]

log = logging.getLogger(__name__)

_LEASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_USAGE_EVERY_S = 5.0


class LeaseError(UserFacingError):
    """A lease request cannot be accepted (bad id, unknown or finished lease)."""


@dataclass(frozen=True)
class LogLine:
    time: float
    source: str
    """``node`` for the node's own startup/shutdown lines, ``job`` for the job's output."""
    text: str


@dataclass
class RecoveryReport:
    adopted: list[str] = field(default_factory=list)
    """Leases whose job was still running and is controlled again."""
    lost: list[str] = field(default_factory=list)
    """Leases whose job did not survive; they are marked failed with the reason."""
    orphans_removed: list[str] = field(default_factory=list)
    """Lease ids of jobs that had no lease in the book and were removed."""


def _outcome_text(outcome: JobOutcome) -> tuple[LeaseState, str]:
    reason = outcome.reason
    if reason is EndReason.EXITED:
        if outcome.exit_code == 0:
            return LeaseState.CLOSED, "the job finished (exit code 0)"
        return LeaseState.FAILED, f"the job exited with code {outcome.exit_code}"
    texts = {
        EndReason.OOM_KILLED: "the job used more memory than the lease allows and was killed",
        EndReason.OUT_OF_FUEL: "the job used up its CPU budget",
        EndReason.DEADLINE: "the lease ended; the job was stopped",
        EndReason.STOPPED: "the lease was closed",
        EndReason.FAILED: "the job failed",
    }
    ended_well = reason in (EndReason.DEADLINE, EndReason.STOPPED)
    state = LeaseState.CLOSED if ended_well else LeaseState.FAILED
    text = texts[reason]
    # The runner's detail explains a failure; for a stop it would only repeat the reason.
    if outcome.detail and not ended_well:
        return state, f"{text}: {outcome.detail}"
    return state, text


class LeaseManager:
    """Runs leases with the given runners (one per runtime).

    Args:
        store: the lease book.
        runners: the available runtimes; a lease for a missing or unavailable one is refused.
        offered: returns what the node offers in total (the owner's limits applied); the
            manager subtracts what active leases hold.
        on_change: called with each new snapshot.
        log_lines: lines kept per lease (oldest dropped first).
        stop_grace: seconds a stopped container gets between SIGTERM and SIGKILL.
    """

    def __init__(
        self,
        store: LeaseStore,
        runners: Iterable[JobRunner],
        *,
        offered: Callable[[], Capacity],
        on_change: Callable[[Lease], None] | None = None,
        clock: Callable[[], float] = time.time,
        log_lines: int = 1000,
        stop_grace: float = 5.0,
        workers: int = 4,
    ) -> None:
        self._store = store
        self._runners: dict[Runtime, JobRunner] = {runner.runtime: runner for runner in runners}
        self._offered = offered
        self._on_change = on_change
        self._clock = clock
        self._log_lines = log_lines
        self._stop_grace = stop_grace
        self._lock = threading.RLock()
        self._handles: dict[str, JobHandle] = {}
        self._logs: dict[str, deque[LogLine]] = {}
        self._followers: dict[str, list[Callable[[LogLine], None]]] = {}
        self._cancelled: set[str] = set()
        self._usage_at: dict[str, float] = {}
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lease")

    # ---- reading ------------------------------------------------------------------------

    def leases(self, *, active_only: bool = False) -> list[Lease]:
        return self._store.all(active_only=active_only)

    def get(self, lease_id: str) -> Lease | None:
        return self._store.get(lease_id)

    def ports(self, lease_id: str) -> dict[int, int]:
        """Exposed port -> 127.0.0.1 port of a running lease (empty otherwise). The tunnel
        connects a lease's streams to these ports and nowhere else."""
        with self._lock:
            handle = self._handles.get(lease_id)
            return dict(handle.ports) if handle else {}

    def logs(self, lease_id: str, tail: int | None = None) -> list[LogLine]:
        """Return the lease's kept log lines (the last ``tail`` when given)."""
        with self._lock:
            lines = list(self._logs.get(lease_id, ()))
        return lines[-tail:] if tail else lines

    def follow_logs(self, lease_id: str, callback: Callable[[LogLine], None]) -> Callable[[], None]:
        """Call ``callback`` with each new line of the lease (from worker threads); returns a
        function that stops following."""
        with self._lock:
            self._followers.setdefault(lease_id, []).append(callback)

        def unfollow() -> None:
            with self._lock:
                followers = self._followers.get(lease_id, [])
                if callback in followers:
                    followers.remove(callback)

        return unfollow

    def free_capacity(self) -> Capacity:
        """What a new lease could still get."""
        offered = self._offered()
        held = self._store.all(active_only=True)
        runtimes = frozenset(
            runtime
            for runtime, runner in self._runners.items()
            if runtime in offered.runtimes and runner.available()
        )
        return Capacity(
            cpu_millicores=offered.cpu_millicores - sum(lease.cpu_millicores for lease in held),
            memory_bytes=offered.memory_bytes - sum(lease.memory_bytes for lease in held),
            storage_bytes=offered.storage_bytes - sum(lease.storage_bytes for lease in held),
            gpu_units=offered.gpu_units - sum(lease.gpu_units for lease in held),
            gpu_model=offered.gpu_model,
            runtimes=runtimes,
        )

    # ---- intents ------------------------------------------------------------------------

    def submit(
        self, lease_id: str, manifest: Mapping[str, Any], *, ends_at: float | None = None
    ) -> Lease:
        """Accept a lease and start its job in the background.

        Submitting an id that is already active returns it unchanged (a gateway re-sending
        after a reconnect gets no duplicate).

        Raises:
            ManifestError: the manifest is invalid, forbidden or larger than the free capacity.
            LeaseError: the id is malformed, or that lease already ended.
        """
        if not isinstance(lease_id, str) or not _LEASE_ID.match(lease_id):
            raise LeaseError(
                f"Lease id {str(lease_id)[:70]!r} is not valid.",
                "Use up to 64 letters, digits, dots, dashes or underscores.",
            )
        existing = self._store.get(lease_id)
        if existing is not None:
            if existing.active:
                return existing
            raise LeaseError(f"Lease {lease_id} already ended ({existing.state}).")
        job = parse_manifest(manifest)
        with self._lock:  # two submits must not both fit into the same free capacity
            check_fits(job, self.free_capacity())
            try:
                lease = self._store.add(lease_id, job, ends_at=ends_at)
            except KeyError:
                raise LeaseError(f"Lease {lease_id} was submitted twice at once.") from None
            self._logs[lease_id] = deque(maxlen=self._log_lines)
        self._emit(lease)
        self._pool.submit(self._launch, lease_id, job)
        return lease

    def close(self, lease_id: str, reason: EndReason = EndReason.STOPPED) -> Lease:
        """Stop a lease. Returns at once; the lease passes through ``closing`` to ``closed``.

        Raises:
            LeaseError: no such lease.
        """
        lease = self._store.get(lease_id)
        if lease is None:
            raise LeaseError(f"There is no lease {lease_id} on this node.")
        if not lease.active or lease.state is LeaseState.CLOSING:
            return lease
        with self._lock:
            handle = self._handles.get(lease_id)
            if handle is None:
                # Not started yet: the launcher sees the flag and stops at its next step.
                self._cancelled.add(lease_id)
                return lease
        closing = self._update(lease_id, LeaseState.CLOSING)
        self._pool.submit(self._stop, lease_id, handle, reason)
        return closing

    def poll(self) -> None:
        """Finish leases whose job ended, stop those past their end, record usage."""
        now = self._clock()
        with self._lock:
            handles = dict(self._handles)
        for lease_id, handle in handles.items():
            lease = self._store.get(lease_id)
            if lease is None or lease.state is not LeaseState.RUNNING:
                continue
            if handle.outcome() is not None:
                # It ended by itself: stop() returns that outcome and cleans up.
                self._update(lease_id, LeaseState.CLOSING)
                self._pool.submit(self._stop, lease_id, handle, EndReason.STOPPED)
            elif lease.ends_at is not None and now >= lease.ends_at:
                self.close(lease_id, EndReason.DEADLINE)
            elif now - self._usage_at.get(lease_id, 0.0) >= _USAGE_EVERY_S:
                self._usage_at[lease_id] = now
                self._record_usage(lease_id, handle)

    def recover(self) -> RecoveryReport:
        """Reconcile the book with the jobs that are really running. Call once at start."""
        report = RecoveryReport()
        adopted: dict[str, JobHandle] = {}
        for runner in self._runners.values():
            if runner.available():
                for found in runner.adopt(self._job_sink):
                    adopted[found.lease_id] = found
        for lease in self._store.all(active_only=True):
            handle = adopted.pop(lease.lease_id, None)
            with self._lock:
                self._logs.setdefault(lease.lease_id, deque(maxlen=self._log_lines))
            if handle is not None and lease.state in (LeaseState.STARTING, LeaseState.RUNNING):
                with self._lock:
                    self._handles[lease.lease_id] = handle
                self._node_line(lease.lease_id, "Node restarted; the running job was re-adopted")
                self._update(lease.lease_id, LeaseState.RUNNING, ports=dict(handle.ports))
                report.adopted.append(lease.lease_id)
                continue
            if handle is not None:  # it was closing: finish the job off
                handle.stop(self._stop_grace)
            report.lost.append(lease.lease_id)
            why = (
                "WebAssembly jobs end when the node stops"
                if lease.runtime is Runtime.WASM
                else "its container was gone"
            )
            state = LeaseState.CLOSED if lease.state is LeaseState.CLOSING else LeaseState.FAILED
            self._update(
                lease.lease_id,
                state,
                reason=f"the node stopped while the lease was {lease.state}; {why}",
                ports={},
            )
        keep = {lease.lease_id for lease in self._store.all(active_only=True)}
        for runner in self._runners.values():
            if runner.available():
                report.orphans_removed.extend(runner.remove_orphans(keep))
        for handle in adopted.values():  # adopted, but the book did not know it any more
            if handle.lease_id not in report.orphans_removed:
                handle.stop(self._stop_grace)
                report.orphans_removed.append(handle.lease_id)
        return report

    def shutdown(self, *, stop_jobs: bool = True, timeout: float = 30.0) -> None:
        """Stop taking work; with ``stop_jobs`` close every active lease and wait (up to
        ``timeout``) until they are closed. Without it, containers keep running and the next
        start re-adopts them."""
        if stop_jobs:
            for lease in self._store.all(active_only=True):
                self.close(lease.lease_id)
            deadline = time.monotonic() + timeout
            while self._store.all(active_only=True) and time.monotonic() < deadline:
                self.poll()
                time.sleep(0.05)
        self._pool.shutdown(wait=stop_jobs, cancel_futures=not stop_jobs)

    # ---- workers ------------------------------------------------------------------------

    def _launch(self, lease_id: str, job: JobManifest) -> None:
        runner = self._runners[job.runtime]
        sink = self._node_sink(lease_id)
        handle: JobHandle | None = None
        try:
            self._update(lease_id, LeaseState.PREPARING)
            runner.prepare(lease_id, job, sink)
            if self._take_cancel(lease_id):
                return
            self._update(lease_id, LeaseState.STARTING)
            handle = runner.start(lease_id, job, sink, self._job_sink(lease_id))
            with self._lock:
                self._handles[lease_id] = handle
            if self._take_cancel(lease_id):
                self._update(lease_id, LeaseState.CLOSING)
                self._stop(lease_id, handle, EndReason.STOPPED)
                return
            self._update(lease_id, LeaseState.RUNNING, ports=dict(handle.ports))
        except (RunnerError, ManifestError) as error:
            sink(f"Deployment failed: {error}")
            self._fail(lease_id, str(error))
        except Exception as error:  # a bug: fail the lease, keep the node up
            log.exception("lease %s: unexpected error while starting", lease_id)
            if handle is not None:
                handle.stop(self._stop_grace)
            self._fail(lease_id, f"internal error while starting ({type(error).__name__})")

    def _take_cancel(self, lease_id: str) -> bool:
        with self._lock:
            if lease_id not in self._cancelled:
                return False
            self._cancelled.discard(lease_id)
        if lease_id not in self._handles:
            self._update(lease_id, LeaseState.CLOSED, reason="the lease was closed before it ran")
        return True

    def _stop(self, lease_id: str, handle: JobHandle, reason: EndReason) -> None:
        self._node_line(lease_id, "Stopping deployment…")
        try:
            outcome = handle.stop(self._stop_grace, reason)
        except Exception as error:
            log.exception("lease %s: stop failed", lease_id)
            outcome = JobOutcome(EndReason.FAILED, detail=f"could not stop cleanly ({error})")
        self._record_usage(lease_id, handle)
        with self._lock:
            self._handles.pop(lease_id, None)
            self._usage_at.pop(lease_id, None)
        state, text = _outcome_text(outcome)
        self._node_line(lease_id, f"Deployment ended: {text}")
        self._update(lease_id, state, reason=text, exit_code=outcome.exit_code, ports={})

    def _record_usage(self, lease_id: str, handle: JobHandle) -> None:
        try:
            usage = handle.usage()
        except Exception:  # usage is best effort; the job's fate does not depend on it
            log.debug("lease %s: usage not available", lease_id, exc_info=True)
            return
        self._update(lease_id, None, usage=usage)

    def _fail(self, lease_id: str, reason: str) -> None:
        with self._lock:
            self._handles.pop(lease_id, None)
            self._cancelled.discard(lease_id)
        self._update(lease_id, LeaseState.FAILED, reason=reason, ports={})

    def _update(self, lease_id: str, state: LeaseState | None, **changes: Any) -> Lease:
        lease = self._store.update(lease_id, state=state, **changes)
        self._emit(lease)
        return lease

    def _emit(self, lease: Lease) -> None:
        if self._on_change is not None:
            try:
                self._on_change(lease)
            except Exception:  # a listener's bug must not break the lease
                log.exception("lease change listener failed")

    # ---- logs ---------------------------------------------------------------------------

    def _append(self, lease_id: str, line: LogLine) -> None:
        with self._lock:
            self._logs.setdefault(lease_id, deque(maxlen=self._log_lines)).append(line)
            followers = list(self._followers.get(lease_id, ()))
        for follower in followers:
            try:
                follower(line)
            except Exception:
                log.exception("log follower failed")

    def _node_line(self, lease_id: str, text: str) -> None:
        self._append(lease_id, LogLine(self._clock(), "node", text))

    def _node_sink(self, lease_id: str) -> LogSink:
        return lambda text: self._node_line(lease_id, text)

    def _job_sink(self, lease_id: str) -> LogSink:
        return lambda text: self._append(lease_id, LogLine(self._clock(), "job", text))
