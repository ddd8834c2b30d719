"""Asking prices: per-unit monthly USD rates, the units offered, and their on-chain forms.

The real network prices a Fizz node as **US dollars per unit per month** (spheron-network.md
5.5, 6.4): CPU per thread, RAM per GB, storage per GB, and one GPU by model from the tier
table in ``resources/pricing/tiers.json``. fizzup's ``*_PRICE`` fields are those rates times
the offered units. Orders on chain are priced **per block** in token base units: 1,800 blocks
an hour (2 s blocks), uSPON has 6 decimals, and the tier table's month is 720 hours.

Use it like this::

    table = load_tier_table()
    offer = offer_from_report(report)
    sheet = price_sheet(offer, table, units=default_units(report), preset=Preset.COMPETITIVE)
    Prices(**sheet.prices_fields())          # the gateway's ``prices`` message (in core.tunnel)
    sheet.estimate(0.5).net_usd               # monthly earnings at 50 % utilisation

Money is :class:`~decimal.Decimal` throughout (never float); bad values raise
:class:`PricingError` naming the field and the fix. Pure: the only I/O is reading the tier table.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Any

from .errors import UserFacingError
from .offer import GB, GIB, MAX_CPU_THREADS, MAX_MEMORY_GB, MAX_STORAGE_GB, Offer, offer_from_report
from .paths import resources_dir
from .report import HardwareReport

__all__ = [
    "HOURS_PER_MONTH",
    "BLOCKS_PER_HOUR",
    "OPERATOR_SHARE",
    "TOKEN_FEE",
    "MAX_USD_PER_UNIT_MONTH",
    "PricingError",
    "PaymentToken",
    "USPON",
    "payment_token",
    "Rates",
    "GpuTier",
    "TierTable",
    "load_tier_table",
    "Preset",
    "preset_rates",
    "Units",
    "default_units",
    "make_units",
    "PriceSheet",
    "EarningsEstimate",
    "price_sheet",
    "parse_usd",
    "usd_month_to_token_hour",
    "token_hour_to_usd_month",
    "token_hour_to_per_block",
    "per_block_to_token_hour",
]

HOURS_PER_MONTH = 720
"""Hours in the network's pricing month: the tier table's $/mo is $/hr x 720 (6.4)."""
BLOCKS_PER_HOUR = 1800
"""2-second blocks (Base); the SDK's ``maxPrice = amount / 1800`` (5.5)."""
OPERATOR_SHARE = Decimal("0.90")
"""The operator's share of direct lease earnings (spheron-network.md 4.1: 90 %; foundation
5 %, gateway 2 %; the docs' numbers do not sum to 100)."""
TOKEN_FEE = Decimal("0.02")
"""Fee on payments in any token other than uSPON (issue 6; uSPON is fee-free)."""
MAX_USD_PER_UNIT_MONTH = Decimal(1_000_000)
"""Above this a per-unit price is a typo (the dearest GPU in the table is $180/month)."""
_USD_QUANTUM = Decimal("0.000001")
_BLOCK_QUANTUM = Decimal("0.000001")
_RATE_FIELDS = {
    "cpu": ("cpu_per_thread_month_usd", "CPU price per thread per month"),
    "memory": ("memory_per_gb_month_usd", "RAM price per GB per month"),
    "storage": ("storage_per_gb_month_usd", "storage price per GB per month"),
    "gpu": ("gpu_per_unit_month_usd", "GPU price per GPU per month"),
}


class PricingError(UserFacingError):
    """A price, unit count, token or rate is refused. ``field`` names it (``cpu_units``...)."""

    def __init__(self, message: str, remedy: str, *, field: str) -> None:
        super().__init__(message, remedy)
        self.field = field


# ---- Numbers in, numbers out -------------------------------------------------------------------


def _number(value: object, field: str, label: str) -> Decimal:
    # bool is an int in Python but never a price; floats go through repr() so 0.1 stays 0.1.
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int) and not isinstance(value, bool):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            number = Decimal("NaN")
    else:
        number = Decimal("NaN")
    if not number.is_finite():
        raise PricingError(
            f"The {label} must be a number, not {str(value)[:40]!r}.",
            "Enter digits with an optional decimal point, e.g. 0.75.",
            field=field,
        )
    return number + 0  # + 0 turns -0 into 0


def parse_usd(value: object, field: str, label: str | None = None) -> Decimal:
    """Return ``value`` (str, int, float or Decimal) as a USD amount per unit per month.

    Rounded to a millionth of a dollar. Raises :class:`PricingError` naming ``field`` for
    anything non-numeric, NaN, infinite, negative or above :data:`MAX_USD_PER_UNIT_MONTH`.
    """
    label = label or field
    number = _number(value, field, label)
    if number < 0:
        raise PricingError(
            f"The {label} cannot be negative (got {number}).",
            "Enter 0 or more US dollars.",
            field=field,
        )
    if number > MAX_USD_PER_UNIT_MONTH:
        raise PricingError(
            f"The {label} of {number} USD per month is not plausible.",
            f"Enter at most {MAX_USD_PER_UNIT_MONTH} US dollars (the market rate for a "
            "thread is 0.75).",
            field=field,
        )
    return number.quantize(_USD_QUANTUM, ROUND_HALF_UP)


def _text(number: Decimal) -> str:
    # The tunnel protocol wants plain digits with an optional fraction: no exponent, no sign.
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "0") else text


# ---- Tokens and conversions --------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentToken:
    """A token leases may be paid in, and what one whole token is worth in US dollars."""

    symbol: str
    decimals: int
    usd_per_token: Decimal

    @property
    def fee(self) -> Decimal:
        """Fraction of earnings withheld for this token: none for uSPON, 2 % otherwise."""
        return Decimal(0) if self.symbol == "uSPON" else TOKEN_FEE


def payment_token(symbol: str, decimals: object, usd_per_token: object) -> PaymentToken:
    """Validate and build a :class:`PaymentToken`; raises :class:`PricingError`."""
    if not (isinstance(symbol, str) and 0 < len(symbol.strip()) <= 32):
        raise PricingError(
            f"The token symbol {str(symbol)[:40]!r} is not usable.",
            "Use the token's symbol, 1 to 32 characters (e.g. uSPON).",
            field="token",
        )
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 36:
        raise PricingError(
            f"The number of decimals of {symbol} must be a whole number from 0 to 36.",
            "Use the token contract's decimals() (uSPON has 6).",
            field="token_decimals",
        )
    rate = _number(usd_per_token, "usd_per_token", f"USD value of one {symbol}")
    if not Decimal("0.000000001") <= rate <= Decimal(1_000_000):
        raise PricingError(
            f"The USD value of one {symbol} must be between 0.000000001 and 1000000 (got {rate}).",
            f"Enter what one {symbol} is worth in US dollars.",
            field="usd_per_token",
        )
    return PaymentToken(symbol.strip(), decimals, rate)


USPON = PaymentToken("uSPON", 6, Decimal(1))
"""The network's payment token (6 decimals, spheron-network.md 2.2, 6.3). Its default value of
1 USD is the Spheron Foundation's own figure ("uSPON has a value of $1 credit inside the
network", foundation.spheron.network tokenomics page); pass another rate through
:func:`payment_token` when that changes."""


def usd_month_to_token_hour(usd_month: Decimal, token: PaymentToken = USPON) -> Decimal:
    """USD per month -> whole tokens per hour."""
    return usd_month / HOURS_PER_MONTH / token.usd_per_token


def token_hour_to_usd_month(per_hour: Decimal, token: PaymentToken = USPON) -> Decimal:
    """Whole tokens per hour -> USD per month."""
    return per_hour * token.usd_per_token * HOURS_PER_MONTH


def token_hour_to_per_block(per_hour: Decimal, token: PaymentToken = USPON) -> Decimal:
    """Whole tokens per hour -> token base units per block, to a millionth of a base unit.

    Fractions are kept because a GB of storage earns far less than a base unit per block;
    round only the total of an order (:meth:`PriceSheet.total_per_block`).
    """
    base_units = per_hour.scaleb(token.decimals) / BLOCKS_PER_HOUR
    return base_units.quantize(_BLOCK_QUANTUM, ROUND_HALF_UP)


def per_block_to_token_hour(per_block: Decimal, token: PaymentToken = USPON) -> Decimal:
    """Token base units per block -> whole tokens per hour."""
    return (per_block * BLOCKS_PER_HOUR).scaleb(-token.decimals)


# ---- Rates and the tier table ------------------------------------------------------------------


@dataclass(frozen=True)
class Rates:
    """USD per unit per month: per CPU thread, per GB of RAM, per GB of storage, per GPU."""

    cpu: Decimal
    memory: Decimal
    storage: Decimal
    gpu: Decimal | None = None
    """``None`` when no price is known for the GPU (or there is none)."""

    @classmethod
    def of(cls, *, cpu: object, memory: object, storage: object, gpu: object = None) -> Rates:
        """Validate user input (strings, numbers) into rates; raises :class:`PricingError`."""
        gpu_rate = None if gpu is None else parse_usd(gpu, *_RATE_FIELDS["gpu"])
        return cls(
            parse_usd(cpu, *_RATE_FIELDS["cpu"]),
            parse_usd(memory, *_RATE_FIELDS["memory"]),
            parse_usd(storage, *_RATE_FIELDS["storage"]),
            gpu_rate,
        )

    def scaled(self, factor: Decimal) -> Rates:
        """Every rate times ``factor``, to a millionth of a dollar."""

        def scale(rate: Decimal) -> Decimal:
            return (rate * factor).quantize(_USD_QUANTUM, ROUND_HALF_UP)

        gpu = None if self.gpu is None else scale(self.gpu)
        return Rates(scale(self.cpu), scale(self.memory), scale(self.storage), gpu)


@dataclass(frozen=True)
class GpuTier:
    name: str
    """The network's short model name (``rtx4090``)."""
    tier: str
    multiplier: Decimal
    """Reward-points multiplier (FN points), not a price factor."""
    usd_per_month: Decimal


@dataclass(frozen=True)
class TierTable:
    """The market rates (``resources/pricing/tiers.json``)."""

    cpu: Decimal
    memory: Decimal
    storage: Decimal
    gpus: dict[str, GpuTier]

    def market_rates(self, gpu_model: str | None) -> Rates:
        """The table's rates, with the GPU's if ``gpu_model`` is listed (else ``gpu=None``)."""
        tier = self.gpus.get(gpu_model or "")
        return Rates(self.cpu, self.memory, self.storage, tier.usd_per_month if tier else None)


def load_tier_table(path: Path | None = None) -> TierTable:
    """Read the tier table (default: ``pricing/tiers.json`` in the resources folder).

    Raises:
        PricingError: the file is missing or malformed (a broken install).
    """
    path = path or resources_dir() / "pricing" / "tiers.json"
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
        gpus = {
            row["name"]: GpuTier(
                row["name"],
                row["tier"],
                Decimal(row["multiplier"]),
                parse_usd(row["usd_per_month"], f"gpus.{row['name']}"),
            )
            for row in raw["gpus"]
        }
        return TierTable(
            cpu=parse_usd(raw["cpu_usd_per_thread_month"], "cpu_usd_per_thread_month"),
            memory=parse_usd(raw["memory_usd_per_gb_month"], "memory_usd_per_gb_month"),
            storage=parse_usd(raw["storage_usd_per_gb_month"], "storage_usd_per_gb_month"),
            gpus=gpus,
        )
    except (OSError, ValueError, KeyError, TypeError, InvalidOperation, PricingError) as error:
        raise PricingError(
            f"The price table {path} cannot be read ({error}).",
            "Reinstall Fizz Node; the file ships with it.",
            field="tiers.json",
        ) from None


class Preset(StrEnum):
    """Price presets relative to the market table.

    ``market`` is the table unchanged (what the real dashboard writes); ``competitive`` asks
    15 % less to win more bids when orders are scarce; ``premium`` asks 25 % more for owners
    who only want well-paid work. The factors are this app's choice, not the network's.
    """

    MARKET = "market"
    COMPETITIVE = "competitive"
    PREMIUM = "premium"

    @property
    def factor(self) -> Decimal:
        return {"market": Decimal(1), "competitive": Decimal("0.85"), "premium": Decimal("1.25")}[
            self.value
        ]


def preset_rates(preset: Preset | str, table: TierTable, gpu_model: str | None) -> Rates:
    """The rates of ``preset`` for a node with ``gpu_model``; raises :class:`PricingError`."""
    try:
        chosen = Preset(preset)
    except ValueError:
        raise PricingError(
            f"There is no price preset called {str(preset)[:40]!r}.",
            f"Choose one of: {', '.join(p.value for p in Preset)}.",
            field="preset",
        ) from None
    return table.market_rates(gpu_model).scaled(chosen.factor)


# ---- Units offered -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Units:
    """What is put up for rent (fizzup's ``*_UNITS``): threads, GB, GB, GPUs of one model."""

    cpu_units: int
    memory_gb: int
    storage_gb: int
    gpu_units: int = 0
    gpu_model: str = "none"


def default_units(
    report: HardwareReport,
    *,
    keep_threads: int = 1,
    keep_memory_gb: int = 2,
    keep_storage: Decimal = Decimal("0.10"),
) -> Units:
    """What the hardware has minus what the owner keeps, within the network's per-node maxima.

    By default the owner keeps a thread, 2 GB of RAM and 10 % of the free storage. Never more
    than present: the network checks claims against free resources and cuts rewards for a
    shortfall (spheron-network.md 4.1).
    """
    offer = offer_from_report(report)
    free_gb = Decimal(report.storage.free_bytes) / GB
    memory_gb = report.memory.total_bytes // GIB - keep_memory_gb
    return Units(
        cpu_units=max(0, min(report.cpu.threads - keep_threads, MAX_CPU_THREADS)),
        memory_gb=max(0, min(memory_gb, MAX_MEMORY_GB)),
        storage_gb=max(0, min(math.floor(free_gb * (1 - keep_storage)), MAX_STORAGE_GB)),
        gpu_units=offer.gpu_units,
        gpu_model=offer.gpu_model,
    )


def _count(value: object, field: str, label: str, most: int) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise PricingError(
            f"The {label} must be a whole number, not {str(value)[:40]!r}.",
            f"Enter a whole number from 0 to {most}.",
            field=field,
        )
    if not 0 <= value <= most:
        raise PricingError(
            f"The {label} must be from 0 to {most} on this machine (got {value}).",
            "Offer no more than the machine has: the network checks and cuts rewards for "
            "over-claiming.",
            field=field,
        )
    return value


def make_units(
    offer: Offer, *, cpu_units: object, memory_gb: object, storage_gb: object, gpu_units: object
) -> Units:
    """Validate user-chosen units against ``offer`` (what is present, within the maxima)."""
    return Units(
        cpu_units=_count(cpu_units, "cpu_units", "number of CPU threads", offer.cpu_units),
        memory_gb=_count(memory_gb, "memory_gb", "RAM in GB", offer.memory_gb),
        storage_gb=_count(storage_gb, "storage_gb", "storage in GB", offer.storage_gb),
        gpu_units=_count(gpu_units, "gpu_units", "number of GPUs", offer.gpu_units),
        gpu_model=offer.gpu_model,
    )


# ---- The price sheet ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EarningsEstimate:
    """Expected monthly earnings; every amount is USD except ``net_tokens``."""

    utilisation: Decimal
    gross_usd: Decimal
    """What tenants pay: the sheet's monthly total x utilisation."""
    operator_share: Decimal
    token_fee: Decimal
    net_usd: Decimal
    """``gross_usd x operator_share x (1 - token_fee)``: what reaches the wallet."""
    net_tokens: Decimal
    token: str


@dataclass(frozen=True)
class PriceSheet:
    """Rates and units together: everything the gateway needs to bid for this node."""

    rates: Rates
    units: Units
    token: PaymentToken = USPON
    """The token the per-block prices are quoted in."""
    accepted_tokens: tuple[PaymentToken, ...] = (USPON,)
    preset: str = "custom"

    def __post_init__(self) -> None:
        if self.units.gpu_units > 0 and self.rates.gpu is None:
            raise PricingError(
                f"No market price is known for the GPU model {self.units.gpu_model!r}.",
                "Set a GPU price per month yourself, or offer no GPU.",
                field="gpu_per_unit_month_usd",
            )
        if self.token.symbol not in {t.symbol for t in self.accepted_tokens}:
            raise PricingError(
                f"Prices are quoted in {self.token.symbol}, which the node does not accept.",
                "Add the token to the accepted payment tokens, or quote in uSPON.",
                field="token",
            )

    def _rate_units(self) -> dict[str, tuple[Decimal, int]]:
        pairs = {
            "cpu": (self.rates.cpu, self.units.cpu_units),
            "memory": (self.rates.memory, self.units.memory_gb),
            "storage": (self.rates.storage, self.units.storage_gb),
        }
        if self.units.gpu_units > 0 and self.rates.gpu is not None:
            pairs["gpu"] = (self.rates.gpu, self.units.gpu_units)
        return pairs

    def totals_usd_month(self) -> dict[str, Decimal]:
        """Rate x units per resource: fizzup's ``CPU_PRICE``, ``MEMORY_PRICE``..."""
        return {name: rate * units for name, (rate, units) in self._rate_units().items()}

    def monthly_total_usd(self) -> Decimal:
        """What a tenant renting everything for a month pays."""
        return sum(self.totals_usd_month().values(), Decimal(0))

    def per_block(self) -> dict[str, Decimal]:
        """Per unit (thread, GB, GB, GPU), in base units of :attr:`token` per block."""
        return {
            name: token_hour_to_per_block(usd_month_to_token_hour(rate, self.token), self.token)
            for name, (rate, _units) in self._rate_units().items()
        }

    def total_per_block(self) -> int:
        """Everything offered, in whole base units per block, rounded up (never under-ask)."""
        hourly = usd_month_to_token_hour(self.monthly_total_usd(), self.token)
        exact = hourly.scaleb(self.token.decimals) / BLOCKS_PER_HOUR
        return int(exact.to_integral_value(ROUND_CEILING))

    def prices_fields(self) -> dict[str, Any]:
        """The fields of the tunnel's ``prices`` message (gateway_client ``Prices``).

        Decimal strings only; the GPU price is included only while a GPU is offered.
        """
        fields: dict[str, Any] = {
            "token": self.token.symbol,
            "cpu_per_thread_month_usd": _text(self.rates.cpu),
            "memory_per_gb_month_usd": _text(self.rates.memory),
            "storage_per_gb_month_usd": _text(self.rates.storage),
        }
        if "gpu" in self._rate_units() and self.rates.gpu is not None:
            fields["gpu_per_unit_month_usd"] = _text(self.rates.gpu)
        fields["per_block"] = {name: _text(value) for name, value in self.per_block().items()}
        return fields

    def estimate(
        self,
        utilisation: object,
        *,
        token: PaymentToken | None = None,
        operator_share: Decimal = OPERATOR_SHARE,
    ) -> EarningsEstimate:
        """Monthly earnings if leases use everything offered ``utilisation`` (0..1) of the time.

        ``token`` is what tenants pay in (default: the quoting token); non-uSPON payments lose
        :data:`TOKEN_FEE`. ``operator_share`` defaults to the docs' 90 %.
        """
        share = _number(utilisation, "utilisation", "utilisation")
        if not 0 <= share <= 1:
            raise PricingError(
                f"The utilisation must be between 0 and 1 (got {share}).",
                "Enter the fraction of the month the node is rented, e.g. 0.5 for half.",
                field="utilisation",
            )
        paid_in = token or self.token
        gross = self.monthly_total_usd() * share
        net = gross * operator_share * (1 - paid_in.fee)
        return EarningsEstimate(
            utilisation=share,
            gross_usd=gross,
            operator_share=operator_share,
            token_fee=paid_in.fee,
            net_usd=net,
            net_tokens=net / paid_in.usd_per_token,
            token=paid_in.symbol,
        )


def price_sheet(
    offer: Offer,
    table: TierTable,
    *,
    units: Units | None = None,
    preset: Preset | str = Preset.MARKET,
    rates: Rates | None = None,
    token: PaymentToken = USPON,
    accepted_tokens: tuple[PaymentToken, ...] = (USPON,),
) -> PriceSheet:
    """Build a sheet for ``offer``: ``rates`` if given (preset ``custom``), else the preset's.

    ``units`` default to the whole offer; they are checked against it either way.
    """
    chosen = units or Units(
        offer.cpu_units, offer.memory_gb, offer.storage_gb, offer.gpu_units, offer.gpu_model
    )
    checked = make_units(
        offer,
        cpu_units=chosen.cpu_units,
        memory_gb=chosen.memory_gb,
        storage_gb=chosen.storage_gb,
        gpu_units=chosen.gpu_units,
    )
    if rates is not None:
        return PriceSheet(rates, checked, token, accepted_tokens, "custom")
    chosen_rates = preset_rates(preset, table, offer.gpu_model)
    return PriceSheet(chosen_rates, checked, token, accepted_tokens, Preset(preset).value)
