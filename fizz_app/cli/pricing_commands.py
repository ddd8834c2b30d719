"""``fizz-node pricing show | preset NAME | set --cpu USD ...``: the node's asking prices.

The commands only edit the settings file (atomically), so they work whether or not a node is
running; a running node picks the change up through ``SettingsStore.load_if_changed``.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from ..core import paths
from ..core.config import Settings, SettingsStore
from ..core.errors import SettingsError, UserFacingError
from .output import emit

if TYPE_CHECKING:
    from ..core.pricing import PriceSheet, TierTable
    from ..core.report import HardwareReport

# The hardware probe (psutil, the container engine client) is imported inside the commands,
# so that ``fizz-node --help`` and other commands do not pay for it.

__all__ = ["add_parsers", "saved_or_refused", "probe", "APPLIES_LIVE"]

APPLIES_LIVE = "Saved. A running node applies this within a few seconds."
UTILISATIONS = (Decimal("0.25"), Decimal("0.5"), Decimal(1))
_CENT = Decimal("0.01")
_MICRO = Decimal("0.000001")
_FLAGS = {
    "pricing.cpu_per_thread_month_usd": "--cpu",
    "pricing.memory_per_gb_month_usd": "--memory",
    "pricing.storage_per_gb_month_usd": "--storage",
    "pricing.gpu_per_unit_month_usd": "--gpu",
    "pricing.accepted_tokens": "--token",
    "pricing.uspon_usd": "--uspon-usd",
}
_RESOURCES = (
    ("cpu", "CPU", "thread", "threads"),
    ("memory", "RAM", "GB", "GB"),
    ("storage", "Storage", "GB", "GB"),
    ("gpu", "GPU", "GPU", "GPUs"),
)


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pricing = sub.add_parser(
        "pricing",
        help="asking prices: show them, pick a preset, or set your own",
        description="Prices are US dollars per unit per month (CPU per thread, RAM and "
        "storage per GB, GPU per GPU), quoted to tenants in uSPON. Changes are saved to the "
        "settings; a running node applies them within a few seconds.",
    ).add_subparsers(dest="pricing_command", metavar="ACTION", required=True)

    show = pricing.add_parser("show", help="the effective price sheet and earnings estimate")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=show_pricing)

    preset = pricing.add_parser(
        "preset",
        help="use a preset: market (the network's tier table), competitive (-15%%), "
        "premium (+25%%)",
        description="Price every resource from the network's tier table times the preset's "
        "factor. Clears your own prices.",
    )
    preset.add_argument("name", choices=("market", "competitive", "premium"))
    preset.add_argument("--json", action="store_true", help="print JSON")
    preset.set_defaults(handler=set_preset)

    change = pricing.add_parser(
        "set",
        help="set your own prices (USD per unit per month) or accepted tokens",
        description="Only the options given change. Setting a price switches to the 'custom' "
        "preset: the other prices keep their current values (copied from the preset you had). "
        "Run 'fizz-node pricing preset market' to go back to the network's rates.",
    )
    change.add_argument("--cpu", metavar="USD", help="per CPU thread per month (market: 0.75)")
    change.add_argument("--memory", metavar="USD", help="per GB of RAM per month (market: 0.10)")
    change.add_argument("--storage", metavar="USD", help="per GB of storage per month (0.01)")
    change.add_argument("--gpu", metavar="USD", help="per GPU per month (market: by model)")
    change.add_argument(
        "--token",
        action="append",
        metavar="SYMBOLS",
        help="payment tokens accepted besides uSPON (always accepted, fee-free): USDC, USDT, "
        "DAI; comma-separated or repeated; 'none' for uSPON only. Other tokens carry a 2%% fee",
    )
    change.add_argument(
        "--uspon-usd",
        "--spon-usd",
        dest="uspon_usd",
        metavar="USD",
        help="what one uSPON is worth in US dollars (default 1)",
    )
    change.add_argument("--json", action="store_true", help="print JSON")
    change.set_defaults(handler=set_prices)


# ---- Shared with limits_commands ----------------------------------------------------------------


def probe(settings: Settings) -> HardwareReport:
    """This machine's hardware, with free storage measured where lease data goes."""
    from ..core.hardware import probe_hardware

    return probe_hardware(settings.effective_storage_dir(paths.data_dir()))


def saved_or_refused(
    store: SettingsStore, section: str, raw: dict[str, Any], flags: dict[str, str]
) -> Settings:
    """Save ``raw`` as ``section``; a refusal names the option (``flags``) and the field.

    Raises:
        UserFacingError: the value is refused; nothing was saved.
    """
    try:
        return store.update(**{section: raw})
    except SettingsError as error:
        flag = flags.get(error.field or "")
        if flag is None:
            raise
        raise UserFacingError(f"{flag}: {error.message}", error.remedy) from None


# ---- Commands -----------------------------------------------------------------------------------


def show_pricing(args: argparse.Namespace) -> int:
    """``fizz-node pricing show``."""
    from ..core.pricing import load_tier_table

    settings = SettingsStore(paths.settings_path()).load()
    _print_sheet(args.json, settings, probe(settings), load_tier_table(), saved=False)
    return 0


def set_preset(args: argparse.Namespace) -> int:
    """``fizz-node pricing preset NAME``."""
    from ..core.pricing import load_tier_table

    store = SettingsStore(paths.settings_path())
    settings = store.load()
    report, table = probe(settings), load_tier_table()
    saved = saved_or_refused(store, "pricing", settings.pricing.with_preset(args.name), _FLAGS)
    _print_sheet(args.json, saved, report, table, saved=True)
    return 0


def set_prices(args: argparse.Namespace) -> int:
    """``fizz-node pricing set``: only the options given change."""
    from ..core.offer import offer_from_report
    from ..core.pricing import load_tier_table

    given = {
        name: value
        for name, value in (
            ("cpu", args.cpu),
            ("memory", args.memory),
            ("storage", args.storage),
            ("gpu", args.gpu),
        )
        if value is not None
    }
    if not given and args.token is None and args.uspon_usd is None:
        raise UserFacingError(
            "Nothing to change: no price or token was given.",
            "Add options, e.g. fizz-node pricing set --cpu 0.9 (see fizz-node pricing set -h).",
        )
    store = SettingsStore(paths.settings_path())
    settings = store.load()
    report, table = probe(settings), load_tier_table()
    pricing = settings.pricing
    if given:
        raw = pricing.with_rates(table, offer_from_report(report).gpu_model, given)
    else:
        raw = pricing.model_dump(mode="json")
    if args.token is not None:
        symbols = [s for value in args.token for s in value.split(",") if s.strip()]
        raw["accepted_tokens"] = ["uSPON", *(s for s in symbols if s.strip().lower() != "none")]
    if args.uspon_usd is not None:
        raw["uspon_usd"] = args.uspon_usd
    saved = saved_or_refused(store, "pricing", raw, _FLAGS)
    _print_sheet(args.json, saved, report, table, saved=True)
    return 0


# ---- The sheet ----------------------------------------------------------------------------------


def _plain(number: Decimal, quantum: Decimal = _MICRO) -> str:
    text = format(number.quantize(quantum, ROUND_HALF_UP).normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _build_sheet(
    settings: Settings, report: HardwareReport, table: TierTable
) -> tuple[PriceSheet, list[str]]:
    from ..core.offer import offer_from_report
    from ..core.policy import units_offered
    from ..core.pricing import PricingError

    try:
        return settings.price_sheet(report, table), []
    except PricingError as error:
        if error.field != "gpu_per_unit_month_usd":
            raise
    # A GPU the tier table does not list: show the rest, and say how to price the GPU.
    units = replace(units_offered(settings.limits, report), gpu_units=0)
    offer = offer_from_report(report)
    note = (
        f"The GPU ({offer.gpu_model}) has no market price, so it is not offered. Price it "
        "with: fizz-node pricing set --gpu USD, or turn it off: fizz-node limits set --gpu off."
    )
    return settings.pricing.sheet(offer, table, units), [note]


def sheet_data(settings: Settings, report: HardwareReport, table: TierTable) -> dict[str, Any]:
    """The price sheet as JSON-ready data (stable keys; amounts are decimal strings)."""
    from ..core.offer import offer_from_report
    from ..core.pricing import Preset, token_hour_to_per_block, usd_month_to_token_hour

    sheet, notes = _build_sheet(settings, report, table)
    offer = offer_from_report(report)
    present = {
        "cpu": offer.cpu_units,
        "memory": offer.memory_gb,
        "storage": offer.storage_gb,
        "gpu": offer.gpu_units,
    }
    offered = {
        "cpu": sheet.units.cpu_units,
        "memory": sheet.units.memory_gb,
        "storage": sheet.units.storage_gb,
        "gpu": sheet.units.gpu_units,
    }
    token = sheet.token
    resources: dict[str, Any] = {}
    for name, _label, unit, _units in _RESOURCES:
        rate: Decimal | None = getattr(sheet.rates, name)
        hourly = None if rate is None else usd_month_to_token_hour(rate, token)
        resources[name] = {
            "unit": unit,
            "offered": offered[name],
            "present": present[name],
            "usd_per_unit_month": None if rate is None else _plain(rate),
            "uspon_per_unit_hour": None if hourly is None else _plain(hourly),
            "per_block_per_unit": None
            if hourly is None
            else _plain(token_hour_to_per_block(hourly, token)),
            "usd_month": _plain(rate * offered[name], _CENT) if rate is not None else "0",
        }
    resources["gpu"]["model"] = offer.gpu_model
    estimates = []
    for share in UTILISATIONS:
        estimate = sheet.estimate(share)
        estimates.append(
            {
                "utilisation": _plain(share),
                "gross_usd": _plain(estimate.gross_usd, _CENT),
                "net_usd": _plain(estimate.net_usd, _CENT),
                "net_tokens": _plain(estimate.net_tokens, _CENT),
                "token": estimate.token,
            }
        )
    preset = settings.pricing.preset
    return {
        "preset": preset,
        "preset_factor": None if preset == "custom" else _plain(Preset(preset).factor),
        "quote_token": {
            "symbol": token.symbol,
            "decimals": token.decimals,
            "usd": _plain(token.usd_per_token),
        },
        "accepted_tokens": [
            {"symbol": t.symbol, "fee": _plain(t.fee)} for t in sheet.accepted_tokens
        ],
        "resources": resources,
        "monthly_total_usd": _plain(sheet.monthly_total_usd(), _CENT),
        "total_per_block": sheet.total_per_block(),
        "operator_share": _plain(sheet.estimate(1).operator_share),
        "estimates": estimates,
        "notes": notes,
    }


def _print_sheet(
    as_json: bool, settings: Settings, report: HardwareReport, table: TierTable, *, saved: bool
) -> None:
    data = sheet_data(settings, report, table)
    emit(as_json, data, render_sheet(data, saved=saved))


def _percent(fraction: Decimal) -> str:
    return format((fraction * 100).normalize(), "f")


def _token_text(symbol: str, fee: Decimal) -> str:
    return f"{symbol} (no fee)" if fee == 0 else f"{symbol} ({_percent(fee)}% fee)"


def render_sheet(data: dict[str, Any], *, saved: bool = False) -> str:
    """The sheet from :func:`sheet_data` as text for a terminal."""
    preset = data["preset"]
    if preset == "custom":
        how = "custom (your own prices; market rates where you set none)"
    else:
        how = f"{preset} (the network's tier table x {data['preset_factor']})"
    quote = data["quote_token"]
    accepted = ", ".join(
        _token_text(t["symbol"], Decimal(t["fee"])) for t in data["accepted_tokens"]
    )
    lines = [
        f"Pricing: {how}",
        f"Quoted in {quote['symbol']} (1 {quote['symbol']} = {quote['usd']} USD). "
        f"Accepted: {accepted}.",
        "",
        f"  {'':<8} {'offered':<18} {'USD/unit/month':>14} {'uSPON/unit/h':>13} "
        f"{'per block*':>11} {'USD/month':>10}",
    ]
    for name, label, _unit, plural in _RESOURCES:
        row = data["resources"][name]
        if name == "gpu" and row["present"] == 0:
            lines.append(f"  {label:<8} {'none present':<18}")
            continue
        what = f"{row['offered']} of {row['present']} {plural}"
        if name == "gpu":
            what = f"{row['offered']} of {row['present']} {row['model']}"
        rate = row["usd_per_unit_month"] or "no price"
        lines.append(
            f"  {label:<8} {what:<18} {rate:>14} {row['uspon_per_unit_hour'] or '-':>13} "
            f"{row['per_block_per_unit'] or '-':>11} {row['usd_month']:>10}"
        )
    lines += [
        "",
        f"  Everything rented: {data['monthly_total_usd']} USD a month "
        f"({data['total_per_block']} base units of {quote['symbol']} per block).",
        "  * per block: base units (millionths) of uSPON per unit per 2-second block.",
        "",
        f"Estimated monthly earnings (your {_percent(Decimal(data['operator_share']))}% share):",
    ]
    for estimate in data["estimates"]:
        share = f"{_percent(Decimal(estimate['utilisation']))}%"
        lines.append(f"  {share:>5} rented: {estimate['net_usd']:>9} USD")
    lines += [f"Note: {note}" for note in data["notes"]]
    if saved:
        lines += ["", APPLIES_LIVE]
    return "\n".join(line.rstrip() for line in lines)
