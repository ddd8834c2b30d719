"""Values the earnings ledger (:mod:`fizz_app.core.ledger`) hands out, and exact token maths.

Every amount is an ``int`` in the token's base units (uSPON has 6 decimals, SPON 18) next to
its ``decimals``; ``.value`` gives whole tokens as a :class:`~decimal.Decimal`. Floats never
carry money. The chain's own types are accepted by shape (the ``*Like`` protocols), so the
ledger does not import the chain client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Context, Decimal, InvalidOperation
from enum import StrEnum
from typing import Protocol

__all__ = [
    "Activity",
    "ActivityKind",
    "AmountLike",
    "ChainEarnings",
    "EraReward",
    "LeaseEarning",
    "LifetimeTotal",
    "Period",
    "PeriodTotal",
    "Reconciliation",
    "RewardsLike",
    "TokenEarningsLike",
    "Transfer",
    "TransferNote",
    "TxStatus",
    "UsageSnapshot",
    "EXACT",
    "format_units",
    "parse_units",
]


EXACT = Context(prec=160)
"""The decimal context for token amounts: pass it to ``scaleb``, ``normalize`` and ``quantize``.
Any uint256 of base units (78 digits) shifted by its decimals stays exact in it; Python's
default context keeps 28 digits and would round large amounts silently."""


def format_units(raw: int, decimals: int) -> str:
    """``raw`` base units as a plain decimal string of whole tokens: ``format_units(125000, 6)``
    is ``"0.125"``; never an exponent, never trailing zeros, never rounded."""
    return f"{Decimal(raw).scaleb(-decimals, EXACT).normalize(EXACT):f}"


def parse_units(amount: str | Decimal, decimals: int, *, what: str = "amount") -> int:
    """Whole-token ``amount`` (``"0.125"``) as base units. Raises ``ValueError`` naming ``what``
    when it is not a plain non-negative number or has more decimal places than ``decimals``."""
    try:
        value = Decimal(amount)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"{what} {amount!r} is not a decimal number") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{what} {amount!r} must be a finite number of at least 0")
    raw = value.scaleb(decimals, EXACT)
    if raw != raw.to_integral_value():
        raise ValueError(f"{what} {amount!r} has more than {decimals} decimal places")
    return int(raw)


class TxStatus(StrEnum):
    """Where a claim or withdrawal stands. ``PENDING`` until the chain settles it; the other
    three are final: only ``CONFIRMED`` moved money."""

    PENDING = "pending"
    """Sent, not yet seen mined (also a send whose answer never came: it may still be)."""
    CONFIRMED = "confirmed"
    FAILED = "failed"
    """Mined and reverted."""
    DROPPED = "dropped"
    """Never mined: its nonce was used by another transaction."""

    @classmethod
    def from_receipt(cls, status: int) -> TxStatus:
        """The status of a mined transaction from its receipt status (``SentTx.status``)."""
        return cls.CONFIRMED if status == 1 else cls.FAILED


class ActivityKind(StrEnum):
    LEASE_EARNING = "lease earning"
    REWARD = "reward"
    CLAIM = "claim"
    WITHDRAWAL = "withdrawal"


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"
    """ISO weeks: Monday to Sunday."""
    MONTH = "month"


class AmountLike(Protocol):
    """Shape of ``chain.TokenAmount``."""

    @property
    def raw(self) -> int: ...
    @property
    def decimals(self) -> int: ...
    @property
    def symbol(self) -> str: ...


class TokenEarningsLike(Protocol):
    """Shape of ``chain.TokenEarnings`` (EscrowProtocol ``fizzNodeEarnings`` of one token)."""

    @property
    def token(self) -> str: ...
    @property
    def earned(self) -> AmountLike: ...
    @property
    def withdrawn(self) -> AmountLike: ...
    @property
    def balance(self) -> AmountLike: ...


class RewardsLike(Protocol):
    """Shape of ``chain.RewardsStatus`` (FizzRewardsManager views of one node)."""

    @property
    def current_era(self) -> int: ...
    @property
    def pending(self) -> AmountLike: ...
    @property
    def accumulated(self) -> AmountLike: ...
    @property
    def per_era(self) -> AmountLike: ...


@dataclass(frozen=True)
class LeaseEarning:
    """What one lease has earned in one token: the highest cumulative total the gateway sent."""

    lease_id: str
    token: str
    decimals: int
    amount: int
    first_at: float
    updated_at: float

    @property
    def value(self) -> Decimal:
        return Decimal(self.amount).scaleb(-self.decimals, EXACT)


@dataclass(frozen=True)
class UsageSnapshot:
    """Cumulative resource use of a lease up to ``at`` (Unix time), as reported to the gateway."""

    lease_id: str
    cpu_seconds: float
    memory_peak_bytes: int
    bytes_in: int
    bytes_out: int
    at: float


@dataclass(frozen=True)
class EraReward:
    """One era as seen by the ledger.

    ``points`` is the rewards manager's per-era rate for the node (``getFizzRewardsPerEra``, the
    worth of its approved resources — the network's FN points) last seen during the era;
    ``credited`` is what the manager actually added to the node's accumulated rewards while the
    era was current. ``claimed`` turns true once the credit was paid out (a confirmed claim, or
    the manager showing nothing pending).
    """

    era: int
    token: str
    decimals: int
    points: int
    credited: int
    claimed: bool


@dataclass(frozen=True)
class Transfer:
    """A claim of rewards or a withdrawal of lease earnings, by transaction hash."""

    kind: ActivityKind
    tx_hash: str
    token: str
    decimals: int
    amount: int
    status: TxStatus
    created_at: float
    updated_at: float

    def to_dict(self) -> dict[str, str | int | float]:
        """JSON-ready, amounts as decimal strings of base units (the snapshot's form)."""
        return {
            "kind": self.kind.value,
            "tx_hash": self.tx_hash,
            "token": self.token,
            "decimals": self.decimals,
            "amount": str(self.amount),
            "status": self.status.value,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True)
class TransferNote:
    """What a claim or withdrawal transaction moves, written beside it while it is pending
    (``PendingTx.memo``), so the ledger can book it from the pending store alone: after a send
    whose answer was lost, or a restart before the node saw it mined."""

    kind: ActivityKind
    """``CLAIM`` or ``WITHDRAWAL``."""
    amount: int
    token: str
    decimals: int

    def to_memo(self) -> dict[str, str]:
        return {
            "transfer": self.kind.value,
            "amount": str(self.amount),
            "token": self.token,
            "decimals": str(self.decimals),
        }

    @classmethod
    def from_memo(cls, memo: Mapping[str, str]) -> TransferNote | None:
        """The note in ``memo``; ``None`` for another transaction (a registration step) or a
        memo this version cannot read."""
        try:
            kind = ActivityKind(memo["transfer"])
            note = cls(kind, int(memo["amount"]), memo["token"], int(memo["decimals"]))
        except (KeyError, ValueError):
            return None
        return note if kind in (ActivityKind.CLAIM, ActivityKind.WITHDRAWAL) else None


@dataclass(frozen=True)
class Activity:
    """One line of history: a lease earning increment, a reward credit, a claim or withdrawal."""

    at: float
    kind: ActivityKind
    token: str
    decimals: int
    amount: int
    lease_id: str = ""
    era: int | None = None
    tx_hash: str = ""
    status: TxStatus | None = None

    @property
    def value(self) -> Decimal:
        return Decimal(self.amount).scaleb(-self.decimals, EXACT)


@dataclass(frozen=True)
class PeriodTotal:
    """Credits in one day, week (starting Monday) or month (starting the 1st) of one token."""

    start: date
    token: str
    decimals: int
    lease_earnings: int
    rewards: int


@dataclass(frozen=True)
class LifetimeTotal:
    """Everything in one token since the ledger began. Only confirmed transfers count."""

    token: str
    decimals: int
    lease_earnings: int
    rewards: int
    claimed: int
    withdrawn: int


@dataclass(frozen=True)
class ChainEarnings:
    """``fizzNodeEarnings`` of one token as plain numbers (base units)."""

    token: str
    """The token contract address (or its symbol when the address is not known)."""
    symbol: str
    decimals: int
    earned: int
    withdrawn: int
    balance: int

    @classmethod
    def of(cls, earnings: TokenEarningsLike) -> ChainEarnings:
        """From the chain client's ``TokenEarnings``."""
        return cls(
            token=earnings.token,
            symbol=earnings.earned.symbol,
            decimals=earnings.earned.decimals,
            earned=earnings.earned.raw,
            withdrawn=earnings.withdrawn.raw,
            balance=earnings.balance.raw,
        )


@dataclass(frozen=True)
class Reconciliation:
    """The chain's lease earnings of one token next to the ledger's, at ``at``."""

    at: float
    token: str
    symbol: str
    decimals: int
    chain_earned: int
    chain_withdrawn: int
    chain_balance: int
    ledger_earned: int
    """Sum of the ledger's lease earnings in this token when the comparison was made."""
    ledger_withdrawn: int
    """Sum of the ledger's confirmed withdrawals in this token."""

    @property
    def difference(self) -> int:
        """Chain minus ledger earnings: above 0 the chain credited more than the gateway told
        us, below 0 the gateway announced earnings the chain has not settled (yet)."""
        return self.chain_earned - self.ledger_earned

    @property
    def matches(self) -> bool:
        return self.difference == 0

    def summary(self) -> str:
        """One sentence for the owner."""
        chain = format_units(self.chain_earned, self.decimals)
        if self.matches:
            return f"The ledger matches the chain: {chain} {self.symbol} earned."
        gap = format_units(abs(self.difference), self.decimals)
        ledger = format_units(self.ledger_earned, self.decimals)
        if self.difference > 0:
            return (
                f"The chain shows {gap} {self.symbol} more than the ledger "
                f"({chain} on chain, {ledger} in the ledger)."
            )
        return (
            f"The chain shows {gap} {self.symbol} less than the ledger ({chain} on chain, "
            f"{ledger} in the ledger); the gateway may not have settled those leases yet."
        )
