"""What every job runner (containers, WebAssembly) offers the lease manager.

A runner is synchronous and thread-safe: the lease manager calls it from worker threads, one
lease at a time per lease id. ``prepare`` gets what the job needs (pulls an image, compiles a
module), ``start`` starts it and returns a :class:`JobHandle`; the handle reports the outcome,
usage and the loopback ports its exposed ports are published on, and ``stop`` really stops it:
afterwards no container, process, port or scratch data of that lease is left.

Runners tell the user what happens through ``log``: one line per step, with the real
network's startup wording (``STARTUP_LINES``), and stream the job's own output to
``on_output``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from .manifest import JobManifest, Runtime

__all__ = [
    "STARTUP_LINES",
    "LEASE_LABEL",
    "NODE_LABEL",
    "EndReason",
    "JobOutcome",
    "JobUsage",
    "JobHandle",
    "JobRunner",
    "LogSink",
    "RunnerError",
]

STARTUP_LINES = (
    "Initializing deployment…",
    "Pulling container image…",
    "Creating container…",
    "Starting container…",
    "Applying network configurations…",
    "Deployment startup complete",
)
"""The real network's per-lease startup log (spheron-network.md 6.1), in order."""

LEASE_LABEL = "network.fizz.lease"
"""Container label holding the lease id: how the node finds its own containers again."""
NODE_LABEL = "network.fizz.node"
"""Container label holding the node's instance id, so two nodes on one engine never touch each
other's containers."""

LogSink = Callable[[str], None]


class RunnerError(Exception):
    """The runner could not do what was asked (engine gone, image missing, start failed).

    ``str(error)`` is one plain sentence for the lease's log and the gateway; ``remedy`` says
    what the node's owner can do (empty when it is the tenant's problem)."""

    def __init__(self, message: str, remedy: str = "") -> None:
        super().__init__(message)
        self.remedy = remedy


class EndReason(StrEnum):
    EXITED = "exited"
    """The job finished by itself; see ``exit_code``."""
    OOM_KILLED = "oom_killed"
    """The job used more memory than its limit and was killed."""
    OUT_OF_FUEL = "out_of_fuel"
    """A wasm job used up its instruction budget."""
    DEADLINE = "deadline"
    """The job outlived its lease and was killed."""
    STOPPED = "stopped"
    """Stopped on request (lease closed)."""
    FAILED = "failed"
    """The runner lost the job (engine error, trap); see ``detail``."""


@dataclass(frozen=True)
class JobOutcome:
    reason: EndReason
    exit_code: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class JobUsage:
    cpu_seconds: float = 0.0
    peak_memory_bytes: int = 0
    bytes_in: int = 0
    bytes_out: int = 0


@runtime_checkable
class JobHandle(Protocol):
    """A started job."""

    @property
    def lease_id(self) -> str: ...

    @property
    def ports(self) -> dict[int, int]:
        """Exposed port inside the sandbox -> port on 127.0.0.1 the tunnel connects to."""
        ...

    def outcome(self) -> JobOutcome | None:
        """Return how the job ended, or ``None`` while it runs (never blocks long)."""
        ...

    def wait(self, timeout: float | None = None) -> JobOutcome | None:
        """Block until the job ends or ``timeout`` seconds pass; ``None`` if still running."""
        ...

    def usage(self) -> JobUsage:
        """Return the job's usage so far (cumulative)."""
        ...

    def stop(self, grace: float = 5.0, reason: EndReason = EndReason.STOPPED) -> JobOutcome:
        """Stop the job (SIGTERM, then SIGKILL after ``grace`` seconds) and remove everything
        it had: container, scratch data, published ports. Safe to call twice.

        Returns the outcome: ``reason`` (``STOPPED``, or ``DEADLINE`` when the lease ran out)
        unless the job had already ended by itself, in which case that outcome."""
        ...


class JobRunner(Protocol):
    """One runtime. ``available()`` is cheap and tells whether it can run jobs now."""

    runtime: Runtime

    def available(self) -> bool: ...

    def prepare(self, lease_id: str, manifest: JobManifest, log: LogSink) -> None:
        """Fetch/compile what ``manifest`` needs. Raises :class:`RunnerError`."""
        ...

    def start(
        self, lease_id: str, manifest: JobManifest, log: LogSink, on_output: LogSink
    ) -> JobHandle:
        """Start the job limited to the manifest's resources. Raises :class:`RunnerError`
        after cleaning up whatever it had created."""
        ...

    def adopt(self, on_output: Callable[[str], LogSink]) -> list[JobHandle]:
        """Return handles for this node's jobs that are still running (after a crash);
        ``on_output(lease_id)`` gives the sink for each one's output."""
        ...

    def remove_orphans(self, keep: set[str]) -> list[str]:
        """Remove this node's jobs whose lease id is not in ``keep``; return their ids."""
        ...
