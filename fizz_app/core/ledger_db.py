"""Storage of the earnings ledger (:mod:`fizz_app.core.ledger`): the SQLite file, its schema
and the plumbing every ledger method shares (lock, transactions, token decimals).

Amounts are stored as decimal text of base units: 18-decimal SPON outgrows SQLite's 64-bit
integers after 9.2 SPON, and money never passes through a float.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Self

from .errors import UserFacingError
from .ledger_types import ActivityKind, Reconciliation, Transfer, TxStatus
from .sqlite_file import SqliteFile

__all__ = [
    "DEFAULT_TOKEN_DECIMALS",
    "RECONCILIATION_COLUMNS",
    "SCHEMA_VERSION",
    "TRANSFER_COLUMNS",
    "LedgerDatabase",
    "LedgerError",
    "insert_credit",
    "insert_reconciliation",
    "mark_claimed",
    "reconciliation_from_row",
    "transfer_from_row",
]

log = logging.getLogger("fizz_app.core.ledger")

SCHEMA_VERSION = 1
DEFAULT_TOKEN_DECIMALS: Mapping[str, int] = {"uSPON": 6, "SPON": 18}
"""Decimals of the network's tokens; others are passed to :class:`EarningsLedger`."""

_SCHEMA = (
    # One row per (lease, token): the highest cumulative total the gateway announced.
    "CREATE TABLE IF NOT EXISTS lease_totals (lease_id TEXT NOT NULL, token TEXT NOT NULL,"
    " decimals INTEGER NOT NULL, amount TEXT NOT NULL, source TEXT NOT NULL,"
    " first_at REAL NOT NULL, updated_at REAL NOT NULL, PRIMARY KEY (lease_id, token))",
    # Dated increases: lease earnings (lease_id set) and reward credits (era set).
    "CREATE TABLE IF NOT EXISTS credits (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " at REAL NOT NULL, kind TEXT NOT NULL, lease_id TEXT NOT NULL DEFAULT '', era INTEGER,"
    " token TEXT NOT NULL, decimals INTEGER NOT NULL, amount TEXT NOT NULL,"
    " total TEXT NOT NULL, source TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS credits_by_time ON credits(at)",
    "CREATE TABLE IF NOT EXISTS reward_state (token TEXT PRIMARY KEY, decimals INTEGER NOT NULL,"
    " accumulated TEXT NOT NULL, pending TEXT NOT NULL, updated_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS eras (era INTEGER PRIMARY KEY, token TEXT NOT NULL,"
    " decimals INTEGER NOT NULL, points TEXT NOT NULL, claimed INTEGER NOT NULL DEFAULT 0,"
    " updated_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS transfers (tx_hash TEXT PRIMARY KEY, kind TEXT NOT NULL,"
    " token TEXT NOT NULL, decimals INTEGER NOT NULL, amount TEXT NOT NULL,"
    " status TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS usage_latest (lease_id TEXT PRIMARY KEY,"
    " cpu_seconds REAL NOT NULL, memory_peak_bytes INTEGER NOT NULL,"
    " bytes_in INTEGER NOT NULL, bytes_out INTEGER NOT NULL, at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS usage_samples (lease_id TEXT NOT NULL,"
    " cpu_seconds REAL NOT NULL, memory_peak_bytes INTEGER NOT NULL,"
    " bytes_in INTEGER NOT NULL, bytes_out INTEGER NOT NULL, at REAL NOT NULL,"
    " PRIMARY KEY (lease_id, at))",
    "CREATE TABLE IF NOT EXISTS online (start_at REAL NOT NULL, end_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS online_by_start ON online(start_at)",
    "CREATE TABLE IF NOT EXISTS reconciliations (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " at REAL NOT NULL, token TEXT NOT NULL, symbol TEXT NOT NULL, decimals INTEGER NOT NULL,"
    " earned TEXT NOT NULL, withdrawn TEXT NOT NULL, balance TEXT NOT NULL,"
    " ledger_earned TEXT NOT NULL, ledger_withdrawn TEXT NOT NULL)",
)
TRANSFER_COLUMNS = "kind, tx_hash, token, decimals, amount, status, created_at, updated_at"
RECONCILIATION_COLUMNS = (
    "at, token, symbol, decimals, earned, withdrawn, balance, ledger_earned, ledger_withdrawn"
)


class LedgerError(UserFacingError):
    """The earnings database cannot be used."""


def transfer_from_row(row: tuple[Any, ...]) -> Transfer:
    kind, tx_hash, token, decimals, amount, status, created, updated = row
    return Transfer(
        ActivityKind(kind),
        tx_hash,
        token,
        decimals,
        int(amount),
        TxStatus(status),
        created,
        updated,
    )


def reconciliation_from_row(row: tuple[Any, ...]) -> Reconciliation:
    at, token, symbol, decimals, earned, withdrawn, balance, ledger, ledger_out = row
    return Reconciliation(
        at,
        token,
        symbol,
        decimals,
        int(earned),
        int(withdrawn),
        int(balance),
        int(ledger),
        int(ledger_out),
    )


def insert_credit(
    db: sqlite3.Connection,
    at: float,
    kind: ActivityKind,
    lease_id: str,
    era: int | None,
    token: str,
    decimals: int,
    amount: int,
    total: int,
    source: str,
) -> None:
    """Book one dated increase (``amount``), with the cumulative ``total`` it brought."""
    db.execute(
        "INSERT INTO credits (at, kind, lease_id, era, token, decimals, amount, total, source)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (at, kind.value, lease_id, era, token, decimals, str(amount), str(total), source),
    )


def mark_claimed(db: sqlite3.Connection) -> None:
    """Every credited era is paid out: a claim pays the whole pending balance at once."""
    db.execute(
        "UPDATE eras SET claimed=1 WHERE era IN"
        " (SELECT era FROM credits WHERE kind=? AND era IS NOT NULL)",
        (ActivityKind.REWARD.value,),
    )


def insert_reconciliation(db: sqlite3.Connection, r: Reconciliation) -> None:
    db.execute(
        f"INSERT INTO reconciliations ({RECONCILIATION_COLUMNS})"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            r.at,
            r.token,
            r.symbol,
            r.decimals,
            str(r.chain_earned),
            str(r.chain_withdrawn),
            str(r.chain_balance),
            str(r.ledger_earned),
            str(r.ledger_withdrawn),
        ),
    )


class LedgerDatabase(SqliteFile):
    """The open database and shared plumbing; use :class:`~fizz_app.core.ledger.EarningsLedger`."""

    SCHEMA = _SCHEMA
    SCHEMA_VERSION = SCHEMA_VERSION
    WHAT = "earnings database"
    ERROR = LedgerError
    NEWER_REMEDY = "Update the app, or move the file aside to start a new earnings history."

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        token_decimals: Mapping[str, int] | None = None,
        usage_sample_seconds: float = 300.0,
    ) -> None:
        self._sample_seconds = usage_sample_seconds
        # Gateway symbols may differ in case from the chain's ("uspon" vs "uSPON").
        known = {**DEFAULT_TOKEN_DECIMALS, **(token_decimals or {})}
        self._tokens = {symbol.casefold(): (symbol, decimals) for symbol, decimals in known.items()}
        super().__init__(path, clock=clock)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _token(self, symbol: str, decimals: int | None = None) -> tuple[str, int]:
        """Canonical spelling and decimals of ``symbol``; ``decimals`` teaches a new token."""
        known = self._tokens.get(symbol.casefold())
        if decimals is not None:
            if known is None:
                self._tokens[symbol.casefold()] = (symbol, decimals)
            return (known[0] if known else symbol), decimals
        if known is None:
            raise ValueError(
                f"unknown token {symbol!r}: pass its decimals (token_decimals={{{symbol!r}: N}})"
            )
        return known
