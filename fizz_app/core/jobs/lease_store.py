"""The lease book on disk: one SQLite database in WAL mode, so a crash or ``kill -9`` loses no
committed state and the next start knows which leases were running.

Only what recovery and the owner's history need is stored: ids, state, sizes, ports, usage and
the reason a lease ended. The tenant's environment variables and command line are never
written (they may hold the tenant's own secrets), nor is a WebAssembly module.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from ..errors import UserFacingError
from ..sqlite_file import SqliteFile
from .manifest import JobManifest, Runtime
from .runner import JobUsage

__all__ = ["LeaseState", "Lease", "LeaseStore", "LeaseStoreError", "ACTIVE_STATES"]

SCHEMA_VERSION = 1


class LeaseState(StrEnum):
    PENDING = "pending"
    PREPARING = "preparing"
    STARTING = "starting"
    RUNNING = "running"
    CLOSING = "closing"
    CLOSED = "closed"
    FAILED = "failed"


ACTIVE_STATES = frozenset(
    {
        LeaseState.PENDING,
        LeaseState.PREPARING,
        LeaseState.STARTING,
        LeaseState.RUNNING,
        LeaseState.CLOSING,
    }
)
"""States that hold resources; the rest are final."""

_NEXT: dict[LeaseState, frozenset[LeaseState]] = {
    LeaseState.PENDING: frozenset({LeaseState.PREPARING, LeaseState.CLOSED, LeaseState.FAILED}),
    LeaseState.PREPARING: frozenset(
        {LeaseState.STARTING, LeaseState.CLOSING, LeaseState.CLOSED, LeaseState.FAILED}
    ),
    LeaseState.STARTING: frozenset(
        {LeaseState.RUNNING, LeaseState.CLOSING, LeaseState.CLOSED, LeaseState.FAILED}
    ),
    LeaseState.RUNNING: frozenset({LeaseState.CLOSING, LeaseState.CLOSED, LeaseState.FAILED}),
    LeaseState.CLOSING: frozenset({LeaseState.CLOSED, LeaseState.FAILED}),
    LeaseState.CLOSED: frozenset(),
    LeaseState.FAILED: frozenset(),
}


@dataclass(frozen=True)
class Lease:
    """A snapshot of one lease; safe to hand to any thread or front end."""

    lease_id: str
    name: str
    image: str
    runtime: Runtime
    state: LeaseState
    cpu_millicores: int
    memory_bytes: int
    storage_bytes: int
    gpu_units: int
    created_at: float
    updated_at: float
    ends_at: float | None = None
    reason: str = ""
    """Why it ended (or failed), in plain words; empty while active."""
    exit_code: int | None = None
    ports: dict[int, int] = field(default_factory=dict)
    """Exposed port -> 127.0.0.1 port, while running."""
    usage: JobUsage = field(default_factory=JobUsage)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for events and ``--json`` output."""
        data = asdict(self)
        data["ports"] = {str(port): host for port, host in self.ports.items()}
        return data


class LeaseStoreError(UserFacingError):
    """The lease database cannot be used."""


_COLUMNS = (
    "lease_id, name, image, runtime, state, cpu_millicores, memory_bytes, storage_bytes, "
    "gpu_units, created_at, updated_at, ends_at, reason, exit_code, ports, cpu_seconds, "
    "peak_memory_bytes, bytes_in, bytes_out"
)


def _row_to_lease(row: tuple[Any, ...]) -> Lease:
    (lease_id, name, image, runtime, state, cpu, memory, storage, gpu, created, updated) = row[:11]
    (ends_at, reason, exit_code, ports, cpu_seconds, peak, bytes_in, bytes_out) = row[11:]
    return Lease(
        lease_id=lease_id,
        name=name,
        image=image,
        runtime=Runtime(runtime),
        state=LeaseState(state),
        cpu_millicores=cpu,
        memory_bytes=memory,
        storage_bytes=storage,
        gpu_units=gpu,
        created_at=created,
        updated_at=updated,
        ends_at=ends_at,
        reason=reason,
        exit_code=exit_code,
        ports={int(port): int(host) for port, host in json.loads(ports).items()},
        usage=JobUsage(cpu_seconds, peak, bytes_in, bytes_out),
    )


class LeaseStore(SqliteFile):
    """Leases in ``path`` (created with its folder). Thread-safe; every write commits at once.

    Raises:
        LeaseStoreError: the folder is not writable, or the file was written by a newer app. A
            file that is not a lease database is moved aside (``moved_aside``, never deleted)
            and a fresh one is started.
    """

    SCHEMA = (
        "CREATE TABLE IF NOT EXISTS leases ("
        " lease_id TEXT PRIMARY KEY, name TEXT NOT NULL, image TEXT NOT NULL,"
        " runtime TEXT NOT NULL, state TEXT NOT NULL,"
        " cpu_millicores INTEGER NOT NULL, memory_bytes INTEGER NOT NULL,"
        " storage_bytes INTEGER NOT NULL, gpu_units INTEGER NOT NULL,"
        " created_at REAL NOT NULL, updated_at REAL NOT NULL, ends_at REAL,"
        " reason TEXT NOT NULL DEFAULT '', exit_code INTEGER,"
        " ports TEXT NOT NULL DEFAULT '{}', cpu_seconds REAL NOT NULL DEFAULT 0,"
        " peak_memory_bytes INTEGER NOT NULL DEFAULT 0,"
        " bytes_in INTEGER NOT NULL DEFAULT 0, bytes_out INTEGER NOT NULL DEFAULT 0)",
        "CREATE INDEX IF NOT EXISTS leases_by_state ON leases(state)",
    )
    SCHEMA_VERSION = SCHEMA_VERSION
    WHAT = "lease database"
    ERROR = LeaseStoreError
    NEWER_REMEDY = "Update the app, or move the file aside to start a new lease history."

    def add(self, lease_id: str, manifest: JobManifest, *, ends_at: float | None) -> Lease:
        """Record a new lease as pending and return it. Raises ``KeyError`` if the id exists."""
        now = self._clock()
        lease = Lease(
            lease_id=lease_id,
            name=manifest.name,
            image=manifest.image,
            runtime=manifest.runtime,
            state=LeaseState.PENDING,
            cpu_millicores=manifest.cpu_millicores,
            memory_bytes=manifest.memory_bytes,
            storage_bytes=manifest.storage_bytes,
            gpu_units=manifest.gpu_units,
            created_at=now,
            updated_at=now,
            ends_at=ends_at,
        )
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM leases WHERE lease_id=?", (lease_id,)).fetchone():
                raise KeyError(lease_id)
            db.execute(
                f"INSERT INTO leases ({_COLUMNS}) VALUES ({', '.join('?' * 19)})",
                self._values(lease),
            )
        return lease

    @staticmethod
    def _values(lease: Lease) -> tuple[Any, ...]:
        return (
            lease.lease_id,
            lease.name,
            lease.image,
            lease.runtime.value,
            lease.state.value,
            lease.cpu_millicores,
            lease.memory_bytes,
            lease.storage_bytes,
            lease.gpu_units,
            lease.created_at,
            lease.updated_at,
            lease.ends_at,
            lease.reason,
            lease.exit_code,
            json.dumps({str(port): host for port, host in lease.ports.items()}),
            lease.usage.cpu_seconds,
            lease.usage.peak_memory_bytes,
            lease.usage.bytes_in,
            lease.usage.bytes_out,
        )

    def get(self, lease_id: str) -> Lease | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM leases WHERE lease_id=?", (lease_id,)
            ).fetchone()
        return _row_to_lease(row) if row else None

    def all(self, *, active_only: bool = False, limit: int = 1000) -> list[Lease]:
        """Return leases, newest first."""
        where = f"WHERE state IN ({', '.join('?' * len(ACTIVE_STATES))})" if active_only else ""
        params: list[Any] = [state.value for state in ACTIVE_STATES] if active_only else []
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM leases {where} ORDER BY created_at DESC LIMIT ?",
                (*params, limit),
            ).fetchall()
        return [_row_to_lease(row) for row in rows]

    def update(self, lease_id: str, *, state: LeaseState | None = None, **changes: Any) -> Lease:
        """Apply ``changes`` (Lease fields) and, when given, move to ``state``.

        Raises:
            KeyError: no such lease.
            ValueError: ``state`` is not reachable from the lease's state (a final lease
                never changes state again).
        """
        with self._transaction() as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM leases WHERE lease_id=?", (lease_id,)
            ).fetchone()
            if row is None:
                raise KeyError(lease_id)
            lease = _row_to_lease(row)
            if state is not None and state != lease.state:
                if state not in _NEXT[lease.state]:
                    raise ValueError(f"lease {lease_id} cannot go from {lease.state} to {state}")
                changes["state"] = state
            updated = replace(lease, updated_at=self._clock(), **changes)
            db.execute(
                f"REPLACE INTO leases ({_COLUMNS}) VALUES ({', '.join('?' * 19)})",
                self._values(updated),
            )
        return updated

    def close(self) -> None:
        with self._lock:
            self._db.close()
