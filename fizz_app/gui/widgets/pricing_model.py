"""What the pricing editor edits, without Qt: the engine's pricing state and the preview maths.

:func:`read_pricing` runs on the engine thread (submit it through the bridge); everything else
is pure and runs on the GUI thread. All arithmetic is :mod:`fizz_app.core.pricing`'s.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from ...core.offer import Offer, offer_from_report
from ...core.policy import units_offered
from ...core.pricing import PriceSheet, PricingError, TierTable, Units, load_tier_table, parse_usd
from ...core.settings_sections import RATE_FIELDS, PricingSettings

if TYPE_CHECKING:
    from ...core.node import Node

__all__ = [
    "RESOURCES",
    "PricingBase",
    "Preview",
    "plain",
    "preview",
    "rate_texts",
    "read_pricing",
    "save_changes",
    "unchanged",
]

RESOURCES: tuple[tuple[str, str, str], ...] = (
    ("cpu", "CPU", "USD per CPU thread per month"),
    ("memory", "RAM", "USD per GB of RAM per month"),
    ("storage", "Storage", "USD per GB of storage per month"),
    ("gpu", "GPU", "USD per GPU per month"),
)
"""(resource, short name, what its price means)."""
_LABELS = {
    "cpu": "CPU price per thread per month",
    "memory": "RAM price per GB per month",
    "storage": "storage price per GB per month",
    "gpu": "GPU price per GPU per month",
}


@dataclass(frozen=True)
class PricingBase:
    """The saved pricing section and what it prices: this machine's offer and units."""

    pricing: PricingSettings
    offer: Offer
    units: Units
    table: TierTable

    @property
    def offers_gpu(self) -> bool:
        return self.units.gpu_units > 0


@dataclass(frozen=True)
class Preview:
    """The sheet the user's choice gives, or why there is none."""

    sheet: PriceSheet | None
    changes: dict[str, Any]
    """What :func:`save_changes` would send to ``update_section("pricing", ...)``."""
    errors: dict[str, str] = field(default_factory=dict)
    """Resource (``cpu``...) -> the message to show under its field."""
    problem: str = ""
    """A message about the whole sheet (a GPU without a price)."""

    @property
    def valid(self) -> bool:
        return self.sheet is not None and not self.errors and not self.problem


async def read_pricing(node: Node) -> PricingBase | None:
    """The engine's current pricing state; ``None`` before the first system check.

    Submit it: ``bridge.submit(read_pricing)``.
    """
    report = node.snapshot().hardware
    if report is None:
        return None
    table = await asyncio.to_thread(load_tier_table)
    settings = node.settings
    return PricingBase(
        settings.pricing, offer_from_report(report), units_offered(settings.limits, report), table
    )


async def save_changes(node: Node, changes: dict[str, Any]) -> PricingSettings:
    """Save ``changes`` to the pricing section; the engine re-announces its prices at once."""
    settings = await node.update_section("pricing", **changes)
    return settings.pricing


def plain(number: Decimal, places: int = 6) -> str:
    """``number`` rounded to ``places`` decimals, without trailing zeros or an exponent."""
    text = format(number.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP).normalize(), "f")
    return "0" if text in ("-0", "0") else text


def rate_texts(base: PricingBase, pricing: PricingSettings) -> dict[str, str]:
    """The effective rates of ``pricing`` as field texts (empty where there is none)."""
    rates = pricing.rates(base.table, base.offer.gpu_model)
    texts = {}
    for name, _short, _meaning in RESOURCES:
        rate = getattr(rates, name)
        texts[name] = "" if rate is None else plain(rate)
    return texts


def preview(base: PricingBase, preset: str, texts: dict[str, str]) -> Preview:
    """The sheet for ``preset`` (its rates), or for ``custom`` with the fields' ``texts``."""
    if preset != "custom":
        changes: dict[str, Any] = {"preset": preset, **dict.fromkeys(RATE_FIELDS.values())}
        pricing = PricingSettings.model_validate(base.pricing.with_preset(preset))
        return _sheet_of(base, pricing, changes)
    errors: dict[str, str] = {}
    changes = {"preset": "custom"}
    for name, _short, _meaning in RESOURCES:
        if name == "gpu" and not base.offers_gpu:
            continue  # nothing to price: keep what is saved
        text = texts.get(name, "").strip()
        if name == "gpu" and not text:
            changes[RATE_FIELDS[name]] = None  # the market price of the model, if it has one
            continue
        try:
            value = parse_usd(text, RATE_FIELDS[name], _LABELS[name])
        except PricingError as error:
            errors[name] = str(error)
            continue
        changes[RATE_FIELDS[name]] = format(value.normalize(), "f")
    if errors:
        return Preview(None, changes, errors)
    raw = {**base.pricing.model_dump(mode="json"), **changes}
    return _sheet_of(base, PricingSettings.model_validate(raw), changes)


def _sheet_of(base: PricingBase, pricing: PricingSettings, changes: dict[str, Any]) -> Preview:
    try:
        return Preview(pricing.sheet(base.offer, base.table, base.units), changes)
    except PricingError as error:
        if error.field == RATE_FIELDS["gpu"]:
            return Preview(None, changes, {"gpu": str(error)}, str(error))
        return Preview(None, changes, problem=str(error))


def unchanged(base: PricingBase, candidate: Preview) -> bool:
    """True when saving ``candidate`` would leave the saved section as it is."""
    raw = {**base.pricing.model_dump(mode="json"), **candidate.changes}
    try:
        return PricingSettings.model_validate(raw) == base.pricing
    except ValueError:
        return False
