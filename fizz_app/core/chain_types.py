"""What the chain client reads, as plain frozen data: token amounts, a node's registration, a
gateway, era rewards, lease earnings, balances and a wallet's whole status on one network.

Each has ``to_dict()`` (JSON-ready: amounts as decimal strings of base units) where the CLI's
``--json`` output or the engine's snapshot carries it. Import them from
:mod:`fizz_app.core.chain`, which re-exports them beside the client.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .ledger_types import EXACT

__all__ = [
    "FIZZ_STATUS_NAMES",
    "Balances",
    "ChainStatus",
    "FizzRegistration",
    "GatewayInfo",
    "RewardsStatus",
    "TokenAmount",
    "TokenEarnings",
]

FIZZ_STATUS_NAMES = (
    "unregistered",
    "registered",
    "active",
    "maintenance",
    "suspended",
    "deactivated",
)
"""The network's node status enum, by value (spheron-network.md 3.5)."""


@dataclass(frozen=True)
class TokenAmount:
    raw: int
    decimals: int
    symbol: str

    @property
    def value(self) -> Decimal:
        """The amount in whole tokens."""
        return Decimal(self.raw).scaleb(-self.decimals, EXACT)

    def __str__(self) -> str:
        return f"{self.value.normalize(EXACT):f} {self.symbol}"

    def to_dict(self) -> dict[str, Any]:
        return {"raw": str(self.raw), "value": f"{self.value:f}", "symbol": self.symbol}


def _plain(value: Any) -> dict[str, Any]:
    """JSON-ready fields of a chain dataclass: nested values through their own ``to_dict``
    (token amounts, registrations...), tuples as lists."""
    return {f.name: _field(getattr(value, f.name)) for f in dataclasses.fields(value)}


def _field(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, tuple | list):
        return [_field(item) for item in value]
    return value


@dataclass(frozen=True)
class FizzRegistration:
    fizz_id: int
    provider_id: int
    spec: str
    payments_accepted: tuple[str, ...]
    status: int
    join_timestamp: int
    wallet_address: str
    reward_wallet: str

    @property
    def status_name(self) -> str:
        if 0 <= self.status < len(FIZZ_STATUS_NAMES):
            return FIZZ_STATUS_NAMES[self.status]
        return f"status {self.status}"

    def to_dict(self) -> dict[str, Any]:
        return {**_plain(self), "status_name": self.status_name}


@dataclass(frozen=True)
class GatewayInfo:
    """A gateway (provider) as ProviderRegistry publishes it."""

    provider_id: int
    host_uri: str
    """Where nodes connect: ``wss://host:port`` (the devnet publishes ``ws://`` without TLS)."""
    certificate: str
    """The gateway's TLS certificate (PEM) that nodes pin; empty when none is published."""
    wallet_address: str
    status: int


@dataclass(frozen=True)
class RewardsStatus:
    current_era: int
    pending: TokenAmount
    accumulated: TokenAmount
    per_era: TokenAmount
    last_claimed_era: int
    denied: bool
    paused: bool

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)


@dataclass(frozen=True)
class TokenEarnings:
    token: str
    earned: TokenAmount
    withdrawn: TokenAmount
    balance: TokenAmount

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)


@dataclass(frozen=True)
class Balances:
    gas: TokenAmount
    tokens: tuple[TokenAmount, ...]

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)


@dataclass(frozen=True)
class ChainStatus:
    """Everything ``fizz-node status`` shows about a wallet on one network."""

    network: str
    chain_id: int
    address: str
    registration: FizzRegistration | None
    rewards: RewardsStatus | None
    earnings: tuple[TokenEarnings, ...]
    balances: Balances

    def to_dict(self) -> dict[str, Any]:
        return {**_plain(self), "registered": self.registration is not None}
