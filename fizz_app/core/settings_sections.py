"""The ``pricing`` section of the settings, and how it becomes a :class:`PriceSheet`.

The section holds plain validated values (preset, optional per-unit USD rates, accepted
tokens, the uSPON/USD rate); :mod:`fizz_app.core.pricing` does the arithmetic. How a custom
price combines with the presets:

* ``preset`` ``market``, ``competitive`` or ``premium``: every rate comes from the tier table
  times the preset's factor. The stored rates are ignored (choosing a preset clears them).
* ``preset`` ``custom``: each rate is the stored one, or the market rate where none is stored.
  :meth:`PricingSettings.with_rates` switches to ``custom`` by first copying the current
  preset's rates in, so changing one price never silently moves the others.

The ``limits`` section is :class:`fizz_app.core.policy.ResourcePolicy` itself.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_serializer, field_validator
from pydantic_core import PydanticCustomError

from .offer import Offer
from .pricing import (
    USPON,
    PaymentToken,
    PriceSheet,
    PricingError,
    Rates,
    TierTable,
    Units,
    parse_usd,
    payment_token,
    preset_rates,
    price_sheet,
)

__all__ = ["PRESETS", "RATE_FIELDS", "STABLECOINS", "PricingSettings", "OWN_ERROR_TYPE"]

PRESETS = ("market", "competitive", "premium", "custom")
RATE_FIELDS = {
    "cpu": "cpu_per_thread_month_usd",
    "memory": "memory_per_gb_month_usd",
    "storage": "storage_per_gb_month_usd",
    "gpu": "gpu_per_unit_month_usd",
}
"""Resource name -> the section's field holding its custom USD/unit/month rate."""
_RATE_LABELS = {
    "cpu_per_thread_month_usd": "CPU price per thread per month",
    "memory_per_gb_month_usd": "RAM price per GB per month",
    "storage_per_gb_month_usd": "storage price per GB per month",
    "gpu_per_unit_month_usd": "GPU price per GPU per month",
}
STABLECOINS = {"USDC": 6, "USDT": 6, "DAI": 18}
"""Tokens besides uSPON a node may accept (symbol -> decimals), each worth one US dollar.
The real network takes only uSPON today (spheron-network.md 6.3); its testnet lists these."""
OWN_ERROR_TYPE = "settings_value"
"""pydantic error type of this module's validators: their message is complete as it is."""


def _refuse(error: PricingError) -> PydanticCustomError:
    return PydanticCustomError(
        OWN_ERROR_TYPE, "{text}", {"text": f"{error.message} {error.remedy}"}
    )


def _token_symbol(symbol: str) -> str:
    known = {"USPON": USPON.symbol, **{name: name for name in STABLECOINS}}
    try:
        return known[symbol.strip().upper()]
    except KeyError:
        choices = ", ".join(known.values())
        raise PydanticCustomError(
            OWN_ERROR_TYPE,
            "{text}",
            {
                "text": f"{symbol.strip()[:40]!r} is not a payment token this node can take. "
                f"Choose from: {choices}."
            },
        ) from None


class PricingSettings(BaseModel):
    """What the owner asks for: see the module docstring for how presets and rates combine."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    preset: Literal["market", "competitive", "premium", "custom"] = "market"
    cpu_per_thread_month_usd: Decimal | None = None
    """USD per CPU thread per month (used with ``preset="custom"``)."""
    memory_per_gb_month_usd: Decimal | None = None
    storage_per_gb_month_usd: Decimal | None = None
    gpu_per_unit_month_usd: Decimal | None = None
    accepted_tokens: tuple[str, ...] = (USPON.symbol,)
    """Tokens leases may be paid in; uSPON always (prices are quoted in it). Others carry the
    network's 2 % fee."""
    uspon_usd: Decimal = Decimal(1)
    """What one uSPON is worth in US dollars (the foundation's figure is 1)."""

    @field_validator(*RATE_FIELDS.values(), mode="before")
    @classmethod
    def _rate(cls, value: Any, info: ValidationInfo) -> Decimal | None:
        if value is None:
            return None
        try:
            field = str(info.field_name)
            return parse_usd(value, field, _RATE_LABELS[field])
        except PricingError as error:
            raise _refuse(error) from None

    @field_validator("accepted_tokens", mode="before")
    @classmethod
    def _tokens(cls, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            value = value.split(",")
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise PydanticCustomError(
                OWN_ERROR_TYPE, "{text}", {"text": "must be a list of token symbols."}
            )
        symbols = tuple(dict.fromkeys(_token_symbol(v) for v in value if v.strip()))
        if USPON.symbol not in symbols:
            raise PydanticCustomError(
                OWN_ERROR_TYPE,
                "{text}",
                {"text": "uSPON must stay accepted: prices are quoted in it. Add uSPON."},
            )
        return (USPON.symbol, *(s for s in symbols if s != USPON.symbol))

    @field_validator("uspon_usd", mode="before")
    @classmethod
    def _uspon_usd(cls, value: Any) -> Decimal:
        try:
            return payment_token(USPON.symbol, USPON.decimals, value).usd_per_token
        except PricingError as error:
            raise _refuse(error) from None

    @field_serializer(*RATE_FIELDS.values(), "uspon_usd")
    def _plain_decimal(self, value: Decimal | None) -> str | None:
        # "0.9", not "0.900000" or "9E-1": the file is for people too.
        return None if value is None else format(value.normalize(), "f")

    # ---- What the numbers mean

    def quote_token(self) -> PaymentToken:
        """uSPON at this section's USD rate: the token every price is quoted in."""
        return PaymentToken(USPON.symbol, USPON.decimals, self.uspon_usd)

    def payment_tokens(self) -> tuple[PaymentToken, ...]:
        """The accepted tokens, uSPON first (stablecoins count as one US dollar)."""
        return tuple(
            self.quote_token()
            if symbol == USPON.symbol
            else PaymentToken(symbol, STABLECOINS[symbol], Decimal(1))
            for symbol in self.accepted_tokens
        )

    def custom_rates(self) -> dict[str, Decimal | None]:
        """The stored rates by resource (``cpu``...); ``None`` where none is stored."""
        return {name: getattr(self, field) for name, field in RATE_FIELDS.items()}

    def rates(self, table: TierTable, gpu_model: str | None) -> Rates:
        """The effective USD/unit/month rates for a node with ``gpu_model``."""
        if self.preset != "custom":
            return preset_rates(self.preset, table, gpu_model)
        market = table.market_rates(gpu_model)
        stored = self.custom_rates()
        return Rates(
            cpu=stored["cpu"] if stored["cpu"] is not None else market.cpu,
            memory=stored["memory"] if stored["memory"] is not None else market.memory,
            storage=stored["storage"] if stored["storage"] is not None else market.storage,
            gpu=stored["gpu"] if stored["gpu"] is not None else market.gpu,
        )

    def with_preset(self, preset: str) -> dict[str, Any]:
        """This section as raw values with ``preset`` chosen and the custom rates cleared
        (validate it through the settings store)."""
        raw = self.model_dump(mode="json")
        raw.update({field: None for field in RATE_FIELDS.values()}, preset=preset)
        return raw

    def with_rates(
        self, table: TierTable, gpu_model: str | None, changes: dict[str, object]
    ) -> dict[str, Any]:
        """This section as raw values with ``changes`` (resource -> USD/unit/month) applied and
        ``preset="custom"``; from a named preset its rates are copied in first."""
        raw = self.model_dump(mode="json")
        if self.preset != "custom":
            current = self.rates(table, gpu_model)
            for name, field in RATE_FIELDS.items():
                rate = getattr(current, name)
                raw[field] = None if rate is None else str(rate)
        for name, value in changes.items():
            raw[RATE_FIELDS[name]] = value
        raw["preset"] = "custom"
        return raw

    def sheet(self, offer: Offer, table: TierTable, units: Units) -> PriceSheet:
        """The price sheet for ``units`` of ``offer``.

        Raises:
            PricingError: ``units`` exceed ``offer``, or a GPU is offered that has no price
                (field ``gpu_per_unit_month_usd``: set one, or offer no GPU).
        """
        tokens = self.payment_tokens()
        if self.preset == "custom":
            rates = self.rates(table, offer.gpu_model)
            return price_sheet(
                offer, table, units=units, rates=rates, token=tokens[0], accepted_tokens=tokens
            )
        return price_sheet(
            offer, table, units=units, preset=self.preset, token=tokens[0], accepted_tokens=tokens
        )
