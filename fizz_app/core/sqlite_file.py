"""One SQLite file the app keeps its books in (the lease book, the earnings ledger).

:class:`SqliteFile` opens the file in WAL mode with ``synchronous=NORMAL`` (a crash or
``kill -9`` loses no committed write; only a power cut can drop the last ones), creates the
schema, stamps its version in ``user_version``, and serialises every use behind one lock so any
thread may call it. A file that is not a database is moved aside (``<name>.corrupt-<time>``,
never deleted) and a fresh one is started; a file from a newer app, or a folder that cannot be
written, raises the subclass's error with what to do.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from .errors import UserFacingError

__all__ = ["SqliteFile"]

log = logging.getLogger(__name__)


class SqliteFile:
    """Base of the app's databases. Subclasses set the class attributes and use
    :meth:`_transaction` for writes and :meth:`_rows` for reads.

    Attributes:
        moved_aside: where an unreadable file was moved, or ``None``.
    """

    SCHEMA: ClassVar[Sequence[str]] = ()
    """``CREATE ... IF NOT EXISTS`` statements, run at every open."""
    SCHEMA_VERSION: ClassVar[int] = 1
    WHAT: ClassVar[str] = "database"
    """How the user knows the file: "lease database", "earnings database"."""
    ERROR: ClassVar[type[UserFacingError]] = UserFacingError
    NEWER_REMEDY: ClassVar[str] = "Update the app, or move the file aside to start anew."

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.moved_aside: Path | None = None
        self._clock = clock
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._db = self._open()
        except sqlite3.DatabaseError:
            # Unreadable: keep it for inspection and start a clean file.
            self.moved_aside = path.with_name(f"{path.name}.corrupt-{int(self._clock())}")
            log.warning("the %s %s is unreadable; moved to %s", self.WHAT, path, self.moved_aside)
            path.rename(self.moved_aside)
            for suffix in ("-wal", "-shm"):
                path.with_name(path.name + suffix).unlink(missing_ok=True)
            self._db = self._open()
        except OSError as error:
            raise self.ERROR(
                f"The {self.WHAT} {path} cannot be opened: {error.strerror or error}.",
                "Check that the data folder exists and is writable by you.",
            ) from None

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a process crash; only power loss can drop the tail.
            db.execute("PRAGMA synchronous=NORMAL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > self.SCHEMA_VERSION:
                raise self.ERROR(
                    f"The {self.WHAT} {self.path} was written by a newer version of the app.",
                    self.NEWER_REMEDY,
                )
            for statement in self.SCHEMA:
                db.execute(statement)
            db.execute(f"PRAGMA user_version={self.SCHEMA_VERSION}")
        except BaseException:
            db.close()
            raise
        return db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``), committed on success."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, tuple(params)).fetchall()
