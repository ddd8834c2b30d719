"""The snapshot's earnings in words, for every front end (the desktop app and ``fizz-node run``).

Amounts arrive as base units (strings or ints) with their ``decimals`` and are turned into whole
tokens with :class:`~decimal.Decimal` only (never floats). :class:`TransferWatch` tells which
claims and withdrawals became pending or were settled by the chain between two snapshots, so a
front end can say so once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

from .ledger_types import EXACT

__all__ = [
    "SETTLED_WORDS",
    "TransferNews",
    "TransferWatch",
    "amount_of",
    "grouped",
    "lifetime_summary",
    "transfer_words",
]

SETTLED_WORDS = {
    "confirmed": "confirmed on chain",
    "failed": "failed on chain",
    "dropped": "dropped: it never went through, nothing was paid",
}
"""How a settled claim or withdrawal ended, by its ``status``."""


def grouped(value: Decimal, places: int | None = None) -> str:
    """``value`` with thousands separators, cut (never rounded up) to ``places`` decimals when
    given, without trailing zeros: ``grouped(Decimal("12345.5"))`` is ``12,345.5``."""
    if places is not None:
        value = value.quantize(Decimal(1).scaleb(-places, EXACT), ROUND_DOWN, EXACT)
    text = f"{value.normalize(EXACT):,f}"
    return "0" if text in ("-0", "") else text


def amount_of(raw: object, decimals: int, places: int | None = None) -> str:
    """Base units ``raw`` (int or digits) of a token with ``decimals``, as whole tokens; ``?``
    when ``raw`` is not a whole number."""
    try:
        units = int(str(raw))
    except ValueError:
        return "?"
    return grouped(Decimal(units).scaleb(-decimals, EXACT), places)


def transfer_words(transfer: Mapping[str, Any]) -> str:
    """``Claim of 7 SPON (transaction 0x…)`` for a row of the snapshot's
    ``earnings["transfers"]``."""
    kind = "Claim" if transfer.get("kind") == "claim" else "Withdrawal"
    amount = amount_of(transfer.get("amount", "0"), int(transfer.get("decimals", 0)))
    return f"{kind} of {amount} {transfer.get('token', '')} (transaction {transfer['tx_hash']})"


def lifetime_summary(earnings: Mapping[str, Any] | None) -> str:
    """One line of lifetime totals: lease earnings and withdrawals per token, era rewards and
    claims (``0 uSPON earned from leases`` before anything was earned)."""
    parts = []
    for token, total in sorted(((earnings or {}).get("lifetime") or {}).items()):
        decimals = int(total.get("decimals", 6))
        leases, withdrawn = total.get("lease_earnings", "0"), total.get("withdrawn", "0")
        rewards, claimed = total.get("rewards", "0"), total.get("claimed", "0")
        if any(int(str(value)) for value in (leases, withdrawn)):
            part = f"{amount_of(leases, decimals)} {token} earned from leases"
            if int(str(withdrawn)):
                part += f" ({amount_of(withdrawn, decimals)} withdrawn)"
            parts.append(part)
        if any(int(str(value)) for value in (rewards, claimed)):
            part = f"{amount_of(rewards, decimals)} {token} in era rewards"
            if int(str(claimed)):
                part += f" ({amount_of(claimed, decimals)} claimed)"
            parts.append(part)
    return ", ".join(parts) or "0 uSPON earned from leases"


@dataclass(frozen=True)
class TransferNews:
    """What changed in the claims and withdrawals since the previous snapshot."""

    pending: list[dict[str, Any]]
    """Ones now pending that were not before (newest first)."""
    settled: list[dict[str, Any]]
    """Ones that were pending and now are final: ``status`` is a key of :data:`SETTLED_WORDS`."""


class TransferWatch:
    """Feed it each snapshot's ``earnings`` (:meth:`update`); it answers what became pending
    and what the chain settled since the last one. The first call reports every pending one."""

    def __init__(self) -> None:
        self._pending: set[str] = set()

    def update(self, earnings: Mapping[str, Any] | None) -> TransferNews:
        transfers = (earnings or {}).get("transfers") or []
        pending = {t["tx_hash"]: t for t in transfers if t.get("status") == "pending"}
        settled = [
            t for t in transfers if t["tx_hash"] in self._pending and t.get("status") != "pending"
        ]
        new = [t for hash_, t in pending.items() if hash_ not in self._pending]
        self._pending = set(pending)
        return TransferNews(pending=new, settled=settled)
