"""Pure helpers of the earnings ledger: calendar buckets in a time zone, and the CSV export.

Buckets use the owner's calendar, not fixed 24-hour slices: a day is a local date (23 or 25
hours long across a daylight-saving change), a week starts on Monday, a month on the 1st.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta, tzinfo

from .ledger_types import Activity, ActivityKind, Period, PeriodTotal, format_units

__all__ = ["CSV_COLUMNS", "period_start", "period_totals", "render_csv", "spreadsheet_safe"]

CSV_COLUMNS = ("date", "kind", "lease_id", "era", "amount", "token", "tx_hash", "status")

# A spreadsheet evaluates a cell starting with one of these as a formula (OWASP "CSV
# injection"); tab and carriage return also start formulas in some of them.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def period_start(at: float, period: Period, tz: tzinfo = UTC) -> date:
    """The first local date of the ``period`` holding Unix time ``at`` in ``tz``."""
    day = datetime.fromtimestamp(at, tz).date()
    if period is Period.DAY:
        return day
    if period is Period.WEEK:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def period_totals(
    activities: Iterable[Activity], period: Period, tz: tzinfo = UTC
) -> list[PeriodTotal]:
    """Sum lease earnings and reward credits per period and token, oldest period first.

    Claims and withdrawals move money already counted, so they are not earnings here.
    """
    sums: dict[tuple[date, str], list[int]] = {}
    decimals: dict[str, int] = {}
    for item in activities:
        if item.kind not in (ActivityKind.LEASE_EARNING, ActivityKind.REWARD):
            continue
        key = (period_start(item.at, period, tz), item.token)
        slot = sums.setdefault(key, [0, 0])
        slot[0 if item.kind is ActivityKind.LEASE_EARNING else 1] += item.amount
        decimals[item.token] = item.decimals
    return [
        PeriodTotal(start, token, decimals[token], lease, reward)
        for (start, token), (lease, reward) in sorted(sums.items())
    ]


def spreadsheet_safe(cell: str) -> str:
    """``cell`` with a leading apostrophe when a spreadsheet would run it as a formula."""
    return f"'{cell}" if cell.startswith(_FORMULA_STARTS) else cell


def render_csv(activities: Iterable[Activity], tz: tzinfo = UTC) -> str:
    """CSV text (header + one row per activity) with ISO dates in ``tz`` and amounts in whole
    tokens as exact decimal strings. Every cell is spreadsheet-safe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for item in activities:
        row = (
            datetime.fromtimestamp(item.at, tz).isoformat(timespec="seconds"),
            item.kind.value,
            item.lease_id,
            "" if item.era is None else str(item.era),
            format_units(item.amount, item.decimals),
            item.token,
            item.tx_hash,
            "" if item.status is None else item.status.value,
        )
        writer.writerow([spreadsheet_safe(cell) for cell in row])
    return out.getvalue()
