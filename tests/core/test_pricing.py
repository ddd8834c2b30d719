"""Pricing: the tier table, conversions (property-tested), units, presets, the gateway dict."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fizz_app.core.errors import UserFacingError
from fizz_app.core.offer import Offer, offer_from_report
from fizz_app.core.pricing import (
    BLOCKS_PER_HOUR,
    HOURS_PER_MONTH,
    MAX_USD_PER_UNIT_MONTH,
    OPERATOR_SHARE,
    USPON,
    PaymentToken,
    PriceSheet,
    PricingError,
    Rates,
    TierTable,
    Units,
    default_units,
    load_tier_table,
    make_units,
    parse_usd,
    payment_token,
    per_block_to_token_hour,
    preset_rates,
    price_sheet,
    token_hour_to_per_block,
    token_hour_to_usd_month,
    usd_month_to_token_hour,
)
from fizz_app.core.report import HardwareReport
from gateway_client.messages import Prices, decode_message, encode_message

GPU_OFFER = Offer(8, 16, 500, "rtx4070ti", 1, "gp", 0)
CPU_OFFER = Offer(8, 16, 500, "none", 0, "gp")

usd = st.decimals(min_value=0, max_value=MAX_USD_PER_UNIT_MONTH, places=6, allow_nan=False)
tokens = st.builds(
    payment_token,
    st.sampled_from(["uSPON", "USDC", "WETH"]),
    st.integers(0, 18),
    st.decimals(min_value=Decimal("0.001"), max_value=Decimal(100_000), places=3),
)


@pytest.fixture(scope="module")
def table() -> TierTable:
    return load_tier_table()


# ---- The tier table ----------------------------------------------------------------------------


def test_table_has_the_docs_rates(table: TierTable) -> None:
    assert (table.cpu, table.memory, table.storage) == (
        Decimal("0.75"),
        Decimal("0.1"),
        Decimal("0.01"),
    )
    assert table.gpus["rtx4070ti"].usd_per_month == Decimal("54.00")
    assert table.gpus["rtx3080"].usd_per_month == Decimal("50.40")
    assert table.gpus["rtx5090"].usd_per_month == Decimal("180.00")
    assert table.gpus["rtx4090"].tier == "Medium 1"
    assert len(table.gpus) == 31


def test_table_names_match_the_devnet_resource_seed(table: TierTable) -> None:
    seed = json.loads(
        (Path(__file__).parents[2] / "resources/contracts/resources-seed.json").read_text()
    )
    seeded = {row["name"]: row for row in seed["categories"]["GPU"]["resources"]}
    assert set(seeded) <= set(table.gpus)
    for name, row in seeded.items():
        assert Decimal(row["multiplier"]) == table.gpus[name].multiplier, name


def test_a_broken_table_is_refused_with_the_file_named(tmp_path: Path) -> None:
    bad = tmp_path / "tiers.json"
    bad.write_text('{"gpus": []}')
    with pytest.raises(PricingError) as caught:
        load_tier_table(bad)
    assert caught.value.field == "tiers.json" and str(bad) in str(caught.value)


# ---- Conversions -------------------------------------------------------------------------------


def test_conversion_matches_the_sdk_rule() -> None:
    # 1 uSPON/hour -> 1e6 base units / 1800 blocks (spheron-network.md 5.5), at $1 a uSPON.
    per_hour = usd_month_to_token_hour(Decimal(720))
    assert per_hour == 1
    assert token_hour_to_per_block(per_hour) == Decimal("555.555556")
    assert HOURS_PER_MONTH == 720 and BLOCKS_PER_HOUR == 1800


@settings(max_examples=300, deadline=None)
@given(usd, tokens)
def test_round_trip_within_rounding(amount: Decimal, token: PaymentToken) -> None:
    hour = usd_month_to_token_hour(amount, token)
    assert abs(token_hour_to_usd_month(hour, token) - amount) <= Decimal("1e-15") * max(
        amount, Decimal(1)
    )
    block = token_hour_to_per_block(hour, token)
    back = token_hour_to_usd_month(per_block_to_token_hour(block, token), token)
    # One rounding of the per-block price (half a millionth of a base unit), scaled back up.
    bound = Decimal("0.0000005") * BLOCKS_PER_HOUR * HOURS_PER_MONTH * token.usd_per_token
    assert abs(back - amount) <= bound.scaleb(-token.decimals) + Decimal("1e-12")
    assert hour >= 0 and block >= 0


@settings(max_examples=200, deadline=None)
@given(usd, usd, tokens)
def test_conversions_are_monotonic(a: Decimal, b: Decimal, token: PaymentToken) -> None:
    low, high = sorted((a, b))
    assert usd_month_to_token_hour(low, token) <= usd_month_to_token_hour(high, token)
    low_block = token_hour_to_per_block(usd_month_to_token_hour(low, token), token)
    high_block = token_hour_to_per_block(usd_month_to_token_hour(high, token), token)
    assert 0 <= low_block <= high_block


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=12),
        st.integers(-(10**9), 10**9),
        st.booleans(),
        st.none(),
    )
)
def test_parse_usd_accepts_or_names_the_field(value: object) -> None:
    try:
        parsed = parse_usd(value, "cpu_per_thread_month_usd")
    except PricingError as error:
        assert error.field == "cpu_per_thread_month_usd" and error.remedy
    else:
        assert 0 <= parsed <= MAX_USD_PER_UNIT_MONTH


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("-1", "negative"),
        (-0.5, "negative"),
        ("1e7", "not plausible"),
        (float("nan"), "must be a number"),
        (float("inf"), "must be a number"),
        ("abc", "must be a number"),
        (True, "must be a number"),
        ([], "must be a number"),
    ],
)
def test_bad_prices_are_refused_with_the_field_named(value: object, words: str) -> None:
    with pytest.raises(PricingError) as caught:
        Rates.of(cpu="0.75", memory=value, storage="0.01")
    assert isinstance(caught.value, UserFacingError)
    assert caught.value.field == "memory_per_gb_month_usd"
    assert words in caught.value.message and "RAM price" in caught.value.message


def test_valid_prices_parse_from_text_and_numbers() -> None:
    rates = Rates.of(cpu=" 0.8 ", memory=0.1, storage=Decimal("0.01"), gpu=54)
    assert rates == Rates(Decimal("0.8"), Decimal("0.1"), Decimal("0.01"), Decimal(54))
    assert parse_usd("-0", "x") == 0


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("", 6, 1), "token"),
        (("USDC", -1, 1), "token_decimals"),
        (("USDC", True, 1), "token_decimals"),
        (("USDC", 6, 0), "usd_per_token"),
        (("USDC", 6, "nan"), "usd_per_token"),
    ],
)
def test_bad_tokens_are_refused(args: tuple[object, object, object], field: str) -> None:
    with pytest.raises(PricingError) as caught:
        payment_token(*args)  # type: ignore[arg-type]
    assert caught.value.field == field


# ---- Units -------------------------------------------------------------------------------------


def test_default_units_keep_a_reserve_for_the_owner(sample_report: HardwareReport) -> None:
    units = default_units(sample_report)  # 32 threads, 64 GiB, 640 GB free, RTX 4090
    assert units == Units(31, 62, 576, 1, "rtx4090")


def test_default_units_never_exceed_the_network_maxima(sample_report: HardwareReport) -> None:
    big = dataclasses.replace(
        sample_report,
        cpu=dataclasses.replace(sample_report.cpu, threads=128),
        memory=dataclasses.replace(sample_report.memory, total_bytes=512 * 1024**3),
        storage=dataclasses.replace(sample_report.storage, free_bytes=10_000 * 1000**3),
    )
    assert default_units(big) == Units(32, 128, 2000, 1, "rtx4090")
    tiny = dataclasses.replace(
        sample_report,
        cpu=dataclasses.replace(sample_report.cpu, threads=1),
        memory=dataclasses.replace(sample_report.memory, total_bytes=1024**3),
    )
    units = default_units(tiny)
    assert (units.cpu_units, units.memory_gb) == (0, 0)
    offer = offer_from_report(big)
    assert units.storage_gb <= offer.storage_gb


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("cpu_units", 9, "from 0 to 8"),
        ("memory_gb", -1, "from 0 to 16"),
        ("storage_gb", "lots", "whole number"),
        ("gpu_units", 1.5, "whole number"),
    ],
)
def test_units_above_the_offer_are_refused(field: str, value: object, words: str) -> None:
    chosen: dict[str, object] = {"cpu_units": 4, "memory_gb": 8, "storage_gb": 100, "gpu_units": 0}
    chosen[field] = value
    with pytest.raises(PricingError) as caught:
        make_units(CPU_OFFER, **chosen)
    assert caught.value.field == field and words in caught.value.message


# ---- Presets, the sheet, the gateway message ---------------------------------------------------


def test_presets_scale_the_market_table(table: TierTable) -> None:
    market = preset_rates("market", table, "rtx4070ti")
    assert market == Rates(Decimal("0.75"), Decimal("0.1"), Decimal("0.01"), Decimal("54"))
    assert preset_rates("competitive", table, "rtx4070ti").gpu == Decimal("45.9")
    assert preset_rates("premium", table, "rtx4070ti").cpu == Decimal("0.9375")
    with pytest.raises(PricingError) as caught:
        preset_rates("cheap", table, None)
    assert caught.value.field == "preset"


def test_totals_are_the_fizzup_price_fields(table: TierTable) -> None:
    # spheron-network.md 5.5: 8 threads -> 6, 16 GB -> 1.6, 600 GB -> 6, rtx4070ti -> 54.
    offer = dataclasses.replace(GPU_OFFER, storage_gb=600)
    sheet = price_sheet(offer, table)
    assert sheet.totals_usd_month() == {
        "cpu": Decimal(6),
        "memory": Decimal("1.6"),
        "storage": Decimal(6),
        "gpu": Decimal(54),
    }
    assert sheet.monthly_total_usd() == Decimal("67.6")
    # 67.6 USD/month = 67.6/720 uSPON/h = 52.160493... base units per block, rounded up.
    assert sheet.total_per_block() == 53


def test_prices_dict_builds_the_gateway_message(table: TierTable) -> None:
    for offer in (GPU_OFFER, CPU_OFFER):
        for preset in ("market", "competitive", "premium"):
            fields = price_sheet(offer, table, preset=preset).prices_fields()
            message = Prices(**fields)
            assert decode_message(encode_message(message)) == message
            assert decode_message(json.dumps({"type": "prices", **fields})) == message
            assert ("gpu_per_unit_month_usd" in fields) == (offer.gpu_units > 0)
    fields = price_sheet(GPU_OFFER, table).prices_fields()
    assert fields["per_block"]["gpu"] == "41.666667"  # 54 USD/month in base units per block
    assert fields["cpu_per_thread_month_usd"] == "0.75"


@settings(max_examples=100, deadline=None)
@given(usd, usd, usd, usd)
def test_any_valid_rates_render_a_valid_message(
    cpu: Decimal, memory: Decimal, storage: Decimal, gpu: Decimal
) -> None:
    sheet = PriceSheet(Rates(cpu, memory, storage, gpu), Units(8, 16, 500, 1, "rtx4070ti"))
    message = Prices(**sheet.prices_fields())
    assert decode_message(encode_message(message)) == message


def test_unknown_gpu_needs_a_price(table: TierTable) -> None:
    offer = dataclasses.replace(GPU_OFFER, gpu_model="gtx1060")
    with pytest.raises(PricingError) as caught:
        price_sheet(offer, table)
    assert caught.value.field == "gpu_per_unit_month_usd" and "gtx1060" in caught.value.message
    custom = Rates.of(cpu="0.75", memory="0.1", storage="0.01", gpu="20")
    assert price_sheet(offer, table, rates=custom).preset == "custom"


def test_quoting_token_must_be_accepted(table: TierTable) -> None:
    usdc = payment_token("USDC", 6, 1)
    with pytest.raises(PricingError) as caught:
        price_sheet(CPU_OFFER, table, token=usdc)
    assert caught.value.field == "token"
    sheet = price_sheet(CPU_OFFER, table, token=usdc, accepted_tokens=(USPON, usdc))
    assert sheet.prices_fields()["token"] == "USDC"


# ---- Earnings estimate -------------------------------------------------------------------------


def test_estimate_applies_operator_share_and_token_fee(table: TierTable) -> None:
    sheet = price_sheet(dataclasses.replace(GPU_OFFER, storage_gb=600), table)
    in_uspon = sheet.estimate(0.5)
    assert in_uspon.gross_usd == Decimal("33.8")
    assert in_uspon.net_usd == Decimal("33.8") * OPERATOR_SHARE
    assert in_uspon.token_fee == 0 and in_uspon.net_tokens == in_uspon.net_usd
    weth = payment_token("WETH", 18, 2500)
    in_weth = sheet.estimate("0.5", token=weth)
    assert in_weth.token_fee == Decimal("0.02")
    assert in_weth.net_usd == Decimal("33.8") * OPERATOR_SHARE * Decimal("0.98")
    assert in_weth.net_tokens == in_weth.net_usd / 2500
    assert sheet.estimate(0).net_usd == 0


@settings(max_examples=100, deadline=None)
@given(
    st.decimals(min_value=0, max_value=1, places=4), st.decimals(min_value=0, max_value=1, places=4)
)
def test_estimate_is_monotonic_in_utilisation(a: Decimal, b: Decimal) -> None:
    sheet = PriceSheet(Rates(Decimal("0.75"), Decimal("0.1"), Decimal("0.01")), Units(8, 16, 500))
    low, high = sorted((a, b))
    assert 0 <= sheet.estimate(low).net_usd <= sheet.estimate(high).net_usd


@pytest.mark.parametrize("value", [-0.1, 1.5, "half", float("nan")])
def test_bad_utilisation_is_refused(value: object) -> None:
    sheet = PriceSheet(Rates(Decimal("0.75"), Decimal("0.1"), Decimal("0.01")), Units(8, 16, 500))
    with pytest.raises(PricingError) as caught:
        sheet.estimate(value)
    assert caught.value.field == "utilisation"
