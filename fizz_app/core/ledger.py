"""The earnings ledger: what this node earned, from where, and whether the chain agrees.

One SQLite database in WAL mode (a crash or ``kill -9`` loses no committed row). Amounts are
exact integers in base units, stored as decimal text because 18-decimal SPON outgrows SQLite's
64-bit integers; floats never carry money.

Never double-counts, by construction rather than by bookkeeping:

* **Lease earnings.** The gateway's ``earnings`` notice (``lease_id``, ``amount``, ``token``)
  carries the **cumulative** amount credited to that lease in that token so far (see
  ``gateway_client/PROTOCOL.md``). The ledger keeps the highest total per (lease, token) and
  records only the increase as a dated entry, so a notice re-delivered after a reconnect or a
  restart changes nothing, and one that goes backwards is ignored with a warning.
* **Rewards.** ``FizzRewardsManager.getAccRewardsForFizz`` only grows; the ledger keeps the last
  value seen and books each increase as a credit of the era current when it was seen.
* **Claims and withdrawals** are keyed by transaction hash; recording one again only moves its
  status forward (pending → confirmed, failed or dropped), and only confirmed ones count in the
  totals: a claim booked pending and later confirmed adds its amount once.
* **Uptime** is stored as merged online intervals: reporting the same span twice, or a session
  start again with a later end after a restart, adds nothing twice.

Dates: every row carries Unix time; calendar totals are computed in the time zone the caller
passes (UTC by default, the owner's zone for display) — see :meth:`EarningsLedger.totals`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import IO

from .atomic import write_atomic
from .ledger_db import (
    DEFAULT_TOKEN_DECIMALS,
    RECONCILIATION_COLUMNS,
    TRANSFER_COLUMNS,
    LedgerDatabase,
    LedgerError,
    insert_credit,
    insert_reconciliation,
    log,
    mark_claimed,
    reconciliation_from_row,
    transfer_from_row,
)
from .ledger_export import period_totals, render_csv
from .ledger_types import (
    Activity,
    ActivityKind,
    ChainEarnings,
    EraReward,
    LeaseEarning,
    LifetimeTotal,
    Period,
    PeriodTotal,
    Reconciliation,
    RewardsLike,
    TokenEarningsLike,
    Transfer,
    TxStatus,
    UsageSnapshot,
    parse_units,
)

__all__ = ["DEFAULT_TOKEN_DECIMALS", "EarningsLedger", "LedgerError"]


class EarningsLedger(LedgerDatabase):
    """The ledger in ``path`` (created with its folder). Thread-safe; every write commits at once.

    Args:
        path: the database file (``<data dir>/ledger.sqlite3``).
        clock: Unix time source, injected for tests.
        token_decimals: decimals of payment tokens beyond uSPON and SPON, by symbol.
        usage_sample_seconds: usage history keeps at most one snapshot per lease per this many
            seconds (the latest snapshot is always kept).

    Raises:
        LedgerError: the folder is not writable, or the file was written by a newer app. A file
            that is not a database is moved aside (``moved_aside``) and a fresh ledger started;
            the chain still holds every on-chain figure, so nothing owed is lost.
    """

    # ---- Recording ---------------------------------------------------------------------------

    def record_lease_earnings(
        self,
        lease_id: str,
        amount: str | Decimal,
        token: str,
        *,
        at: float | None = None,
        source: str = "gateway",
    ) -> int:
        """Book a gateway ``earnings`` notice; ``amount`` is the lease's cumulative total in whole
        tokens (``"0.125"``). Returns the increase booked in base units: 0 for a re-delivered or
        stale notice. Raises ``ValueError`` for an unknown token or an amount finer than the
        token's decimals (the engine should log the notice and carry on)."""
        symbol, decimals = self._token(token)
        total = parse_units(amount, decimals, what=f"earnings of lease {lease_id}")
        now = self._clock() if at is None else at
        with self._transaction() as db:
            row = db.execute(
                "SELECT amount FROM lease_totals WHERE lease_id=? AND token=?", (lease_id, symbol)
            ).fetchone()
            before = int(row[0]) if row else 0
            if total < before:
                log.warning(
                    "ignored earnings notice for lease %s: %s %s is below the %s already booked",
                    lease_id,
                    amount,
                    symbol,
                    before,
                )
            if total <= before:
                return 0
            db.execute(
                "INSERT INTO lease_totals VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(lease_id, token) DO UPDATE"
                " SET amount=excluded.amount, updated_at=excluded.updated_at",
                (lease_id, symbol, decimals, str(total), source, now, now),
            )
            kind = ActivityKind.LEASE_EARNING
            insert_credit(
                db, now, kind, lease_id, None, symbol, decimals, total - before, total, source
            )
        return total - before

    def record_usage(
        self,
        lease_id: str,
        cpu_seconds: float,
        memory_peak_bytes: int,
        bytes_in: int,
        bytes_out: int,
        at: float,
    ) -> bool:
        """Keep a lease's cumulative usage (the ``usage`` message's fields). Returns ``False`` for
        a snapshot no newer than the latest one kept."""
        values = (lease_id, cpu_seconds, memory_peak_bytes, bytes_in, bytes_out, at)
        with self._transaction() as db:
            latest = db.execute(
                "SELECT at FROM usage_latest WHERE lease_id=?", (lease_id,)
            ).fetchone()
            if latest and at <= latest[0]:
                return False
            db.execute("REPLACE INTO usage_latest VALUES (?, ?, ?, ?, ?, ?)", values)
            sampled = db.execute(
                "SELECT MAX(at) FROM usage_samples WHERE lease_id=?", (lease_id,)
            ).fetchone()[0]
            if sampled is None or at - sampled >= self._sample_seconds:
                db.execute("INSERT INTO usage_samples VALUES (?, ?, ?, ?, ?, ?)", values)
        return True

    def record_rewards(self, status: RewardsLike, *, at: float | None = None) -> int:
        """Book the rewards manager's view (``ChainClient.rewards``): any growth of accumulated
        rewards is credited to the current era, the era's points are updated, and with nothing
        pending every credited era counts as claimed. Returns the credit booked (base units)."""
        symbol, decimals = self._token(status.accumulated.symbol, status.accumulated.decimals)
        accumulated, pending = status.accumulated.raw, status.pending.raw
        now = self._clock() if at is None else at
        with self._transaction() as db:
            row = db.execute(
                "SELECT accumulated FROM reward_state WHERE token=?", (symbol,)
            ).fetchone()
            before = int(row[0]) if row else 0
            credit = max(0, accumulated - before)
            if accumulated < before:
                log.warning("rewards manager reports %s accumulated, below %s", accumulated, before)
            db.execute(
                "REPLACE INTO reward_state VALUES (?, ?, ?, ?, ?)",
                (symbol, decimals, str(max(accumulated, before)), str(pending), now),
            )
            db.execute(
                "INSERT INTO eras (era, token, decimals, points, updated_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(era) DO UPDATE"
                " SET points=excluded.points, updated_at=excluded.updated_at",
                (status.current_era, symbol, decimals, str(status.per_era.raw), now),
            )
            if credit:
                era, kind = status.current_era, ActivityKind.REWARD
                insert_credit(
                    db, now, kind, "", era, symbol, decimals, credit, accumulated, "rewards manager"
                )
            if pending == 0:
                mark_claimed(db)
        return credit

    def record_claim(
        self,
        tx_hash: str,
        amount: int,
        *,
        token: str = "SPON",
        decimals: int | None = None,
        status: TxStatus = TxStatus.PENDING,
        at: float | None = None,
    ) -> Transfer:
        """Book a rewards claim (``ChainClient.claim_rewards``): ``amount`` is the pending reward
        in base units before claiming; ``status=TxStatus.from_receipt(sent.status)`` once mined,
        ``TxStatus.PENDING`` while the chain has not settled it (settle it later with
        :meth:`set_tx_status`). ``at`` is when it was sent (default: now). A confirmed claim
        marks every credited era claimed."""
        kind = ActivityKind.CLAIM
        return self._record_transfer(kind, tx_hash, amount, token, decimals, status, at)

    def record_withdrawal(
        self,
        tx_hash: str,
        amount: int,
        *,
        token: str = "uSPON",
        decimals: int | None = None,
        status: TxStatus = TxStatus.PENDING,
        at: float | None = None,
    ) -> Transfer:
        """Book a lease earnings withdrawal (``ChainClient.withdraw_earnings``) of ``amount``
        base units; pass the status and ``at`` as for :meth:`record_claim`."""
        kind = ActivityKind.WITHDRAWAL
        return self._record_transfer(kind, tx_hash, amount, token, decimals, status, at)

    def set_tx_status(self, tx_hash: str, status: TxStatus) -> Transfer:
        """Settle a pending claim or withdrawal once the chain says what became of it
        (``TxStatus.from_receipt`` when mined, ``TxStatus.DROPPED`` when its nonce went to
        another transaction); returns it as booked. Raises ``KeyError`` for an unknown hash.
        A final status never changes again, so settling twice changes nothing."""
        with self._transaction() as db:
            row = db.execute(
                f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE tx_hash=?", (tx_hash.lower(),)
            ).fetchone()
            if row is None:
                raise KeyError(tx_hash)
            return self._settle(db, transfer_from_row(row), status)

    def _record_transfer(
        self,
        kind: ActivityKind,
        tx_hash: str,
        amount: int,
        token: str,
        decimals: int | None,
        status: TxStatus,
        at: float | None = None,
    ) -> Transfer:
        if amount < 0:
            raise ValueError(f"{kind} amount {amount} must be at least 0")
        symbol, digits = self._token(token, decimals)
        now = self._clock() if at is None else at
        with self._transaction() as db:
            row = db.execute(
                f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE tx_hash=?", (tx_hash.lower(),)
            ).fetchone()
            if row is not None:
                existing = transfer_from_row(row)
                if existing.kind is not kind:
                    raise ValueError(
                        f"transaction {tx_hash} is already booked as a {existing.kind}"
                    )
                return self._settle(db, existing, status)
            transfer = Transfer(kind, tx_hash.lower(), symbol, digits, amount, status, now, now)
            db.execute(
                f"INSERT INTO transfers ({TRANSFER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (kind.value, transfer.tx_hash, symbol, digits, str(amount), status.value, now, now),
            )
            if kind is ActivityKind.CLAIM and status is TxStatus.CONFIRMED:
                mark_claimed(db)
        return transfer

    def _settle(self, db: sqlite3.Connection, transfer: Transfer, status: TxStatus) -> Transfer:
        if transfer.status is not TxStatus.PENDING or status is TxStatus.PENDING:
            return transfer
        now = self._clock()
        db.execute(
            "UPDATE transfers SET status=?, updated_at=? WHERE tx_hash=?",
            (status.value, now, transfer.tx_hash),
        )
        if transfer.kind is ActivityKind.CLAIM and status is TxStatus.CONFIRMED:
            mark_claimed(db)
        return replace(transfer, status=status, updated_at=now)

    def record_online(self, start: float, end: float) -> None:
        """Count ``start``..``end`` (Unix time) as online. Call it with the session's start and
        the current time on every status tick; overlapping or repeated spans merge."""
        if not start <= end:
            raise ValueError(f"online span ends ({end}) before it starts ({start})")
        with self._transaction() as db:
            row = db.execute(
                "SELECT MIN(start_at), MAX(end_at) FROM online WHERE start_at<=? AND end_at>=?",
                (end, start),
            ).fetchone()
            if row[0] is not None:
                start, end = min(start, row[0]), max(end, row[1])
            db.execute("DELETE FROM online WHERE start_at<=? AND end_at>=?", (end, start))
            db.execute("INSERT INTO online VALUES (?, ?)", (start, end))

    def reconcile(
        self, chain: Iterable[TokenEarningsLike | ChainEarnings], *, at: float | None = None
    ) -> list[Reconciliation]:
        """Compare ``ChainClient.earnings(fizz_id, tokens)`` (or :class:`ChainEarnings`) with the
        ledger's lease earnings and withdrawals per token, keep the comparison and return it;
        show ``Reconciliation.summary()`` to the owner."""
        now = self._clock() if at is None else at
        lifetime = self.lifetime()
        results = []
        for item in chain:
            figures = item if isinstance(item, ChainEarnings) else ChainEarnings.of(item)
            symbol, decimals = self._token(figures.symbol, figures.decimals)
            mine = lifetime.get(symbol)
            results.append(
                Reconciliation(
                    now,
                    figures.token,
                    symbol,
                    decimals,
                    figures.earned,
                    figures.withdrawn,
                    figures.balance,
                    mine.lease_earnings if mine else 0,
                    mine.withdrawn if mine else 0,
                )
            )
        with self._transaction() as db:
            for r in results:
                insert_reconciliation(db, r)
        return results

    # ---- Queries ------------------------------------------------------------------------------

    def latest_reconciliation(self) -> list[Reconciliation]:
        """The most recent comparison of each token; empty before the first :meth:`reconcile`."""
        rows = self._rows(
            f"SELECT {RECONCILIATION_COLUMNS} FROM reconciliations WHERE id IN"
            " (SELECT MAX(id) FROM reconciliations GROUP BY token) ORDER BY symbol"
        )
        return [reconciliation_from_row(row) for row in rows]

    def lease_earnings(self, lease_id: str | None = None) -> list[LeaseEarning]:
        """Earnings per lease and token (of one lease when given), most recently credited first."""
        where, params = ("WHERE lease_id=?", (lease_id,)) if lease_id else ("", ())
        rows = self._rows(
            "SELECT lease_id, token, decimals, amount, first_at, updated_at FROM lease_totals"
            f" {where} ORDER BY updated_at DESC, lease_id",
            params,
        )
        return [LeaseEarning(r[0], r[1], r[2], int(r[3]), r[4], r[5]) for r in rows]

    def usage(self, lease_id: str) -> UsageSnapshot | None:
        """The latest usage snapshot of a lease."""
        rows = self._rows("SELECT * FROM usage_latest WHERE lease_id=?", (lease_id,))
        return UsageSnapshot(*rows[0]) if rows else None

    def usage_history(self, lease_id: str) -> list[UsageSnapshot]:
        """Sampled usage snapshots of a lease, oldest first."""
        rows = self._rows("SELECT * FROM usage_samples WHERE lease_id=? ORDER BY at", (lease_id,))
        return [UsageSnapshot(*row) for row in rows]

    def era_rewards(self) -> list[EraReward]:
        """Every era the ledger saw, newest first, with its points and credit."""
        credited: dict[int, int] = {}
        for era, amount in self._rows(
            "SELECT era, amount FROM credits WHERE kind=?", (ActivityKind.REWARD.value,)
        ):
            credited[era] = credited.get(era, 0) + int(amount)
        rows = self._rows(
            "SELECT era, token, decimals, points, claimed FROM eras ORDER BY era DESC"
        )
        return [
            EraReward(era, token, decimals, int(points), credited.get(era, 0), bool(claimed))
            for era, token, decimals, points, claimed in rows
        ]

    def transfers(self, limit: int | None = None) -> list[Transfer]:
        """Claims and withdrawals, newest first (the ``limit`` newest when given)."""
        rows = self._rows(
            f"SELECT {TRANSFER_COLUMNS} FROM transfers ORDER BY created_at DESC, rowid DESC"
            " LIMIT ?",
            (-1 if limit is None else limit,),  # SQLite: a negative limit is none
        )
        return [transfer_from_row(row) for row in rows]

    def unsettled_transfers(self) -> list[Transfer]:
        """Claims and withdrawals still ``PENDING``, oldest first: look each up on chain and
        settle it with :meth:`set_tx_status`."""
        rows = self._rows(
            f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE status=? ORDER BY created_at, rowid",
            (TxStatus.PENDING.value,),
        )
        return [transfer_from_row(row) for row in rows]

    def uptime_by_era(
        self, *, era_seconds: float = 86_400.0, genesis: float = 0.0
    ) -> dict[int, float]:
        """Seconds online in each era (era ``n`` spans ``genesis + n * era_seconds`` onward);
        the defaults are the network's 24-hour eras from UTC midnight."""
        seconds: dict[int, float] = {}
        for start, end in self._rows("SELECT start_at, end_at FROM online ORDER BY start_at"):
            era = int((start - genesis) // era_seconds)
            while start < end:
                era_end = genesis + (era + 1) * era_seconds
                seconds[era] = seconds.get(era, 0.0) + min(end, era_end) - start
                start, era = era_end, era + 1
        return seconds

    def activity(self, limit: int | None = 50) -> list[Activity]:
        """History newest first: lease earning increases, reward credits, claims, withdrawals."""
        items = self._history()[::-1]
        return items if limit is None else items[:limit]

    def _history(self) -> list[Activity]:
        """Every activity, oldest first (ties in the order they were booked)."""
        items = [
            Activity(at, ActivityKind(kind), token, decimals, int(amount), lease_id, era)
            for at, kind, token, decimals, amount, lease_id, era in self._rows(
                "SELECT at, kind, token, decimals, amount, lease_id, era FROM credits ORDER BY id"
            )
        ]
        items += [
            Activity(
                t.created_at, t.kind, t.token, t.decimals, t.amount, "", None, t.tx_hash, t.status
            )
            for t in self.transfers()[::-1]
        ]
        items.sort(key=lambda item: item.at)
        return items

    def totals(self, period: Period, tz: tzinfo = UTC) -> list[PeriodTotal]:
        """Lease earnings and reward credits per day, week (from Monday) or month of the calendar
        in ``tz`` (pass ``zoneinfo.ZoneInfo(...)`` for the owner's), oldest first."""
        return period_totals(self._history(), period, tz)

    def lifetime(self) -> dict[str, LifetimeTotal]:
        """Totals per token symbol since the ledger began (confirmed transfers only: a pending
        one is counted once it is confirmed, a failed or dropped one never)."""
        sums: dict[str, list[int]] = {}
        digits: dict[str, int] = {}
        slot = {ActivityKind.LEASE_EARNING: 0, ActivityKind.REWARD: 1}
        slot |= {ActivityKind.CLAIM: 2, ActivityKind.WITHDRAWAL: 3}
        for item in self._history():
            if item.status is not None and item.status is not TxStatus.CONFIRMED:
                continue
            sums.setdefault(item.token, [0, 0, 0, 0])[slot[item.kind]] += item.amount
            digits[item.token] = item.decimals
        return {token: LifetimeTotal(token, digits[token], *s) for token, s in sums.items()}

    def export_csv(self, target: Path | IO[str], *, tz: tzinfo = UTC) -> int:
        """Write the whole history, oldest first, as CSV (columns in ``ledger_export.CSV_COLUMNS``)
        to a path (replaced atomically) or an open text file; returns the number of rows."""
        items = self._history()
        text = render_csv(items, tz)
        if isinstance(target, Path):
            write_atomic(target, text.encode("utf-8"), mode=0o600)
        else:
            target.write(text)
        return len(items)
