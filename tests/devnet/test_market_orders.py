"""The devnet's order spec and a node's ask for it (devnet/market/orders.py): reading specs
(good and bad), the resources of a ServiceManifest, ``fits`` and ``node_ask`` with exact
numbers, and the properties the bidding agent relies on (a bid at ``node_ask`` is one the node
itself accepts; asks and fits are monotone)."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devnet.market.orders import (
    GB,
    MAX_SPEC_BYTES,
    OrderResources,
    OrderSpecError,
    fits,
    node_ask,
    order_spec,
    parse_order_spec,
)
from fizz_app.core.jobs.manifest import JobManifest
from fizz_app.core.online import ask_per_block
from fizz_app.core.pricing import PriceSheet, Rates, Units
from gateway_client.messages import Capacity, Prices, Resources

MIB = 1024**2
GIB = 1024**3

# The market rates of spheron-network.md §5.5/§6.4 (CPU $0.75 per thread-month, RAM $0.10 and
# storage $0.01 per GB-month, an rtx4090 $0.175/h = $126/month), as the node announces them:
# USD/month / 720 h / 1800 blocks x 10**6 uSPON base units (1 uSPON = 1 USD), to 1e-6:
#   cpu     0.75 / 720 / 1800 x 1e6 = 0.5787037...  -> 0.578704
#   memory  0.10 / 720 / 1800 x 1e6 = 0.0771604...  -> 0.077160
#   storage 0.01 / 720 / 1800 x 1e6 = 0.00771604... -> 0.007716
#   gpu      126 / 720 / 1800 x 1e6 = 97.222222...  -> 97.222222
MARKET_SHEET = PriceSheet(
    Rates(Decimal("0.75"), Decimal("0.10"), Decimal("0.01"), Decimal("126")),
    Units(8, 16, 200, 1, "rtx4090"),
)
MARKET = Prices(**MARKET_SHEET.prices_fields())


def prices(**per_block: str) -> Prices:
    return Prices(
        token="uSPON",
        cpu_per_thread_month_usd="0.75",
        memory_per_gb_month_usd="0.1",
        storage_per_gb_month_usd="0.01",
        per_block=per_block,
    )


def capacity(cpu: int, memory: int, storage: int, gpu: int = 0) -> Capacity:
    free = Resources(cpu=cpu, memory=memory, storage_ephemeral=storage, gpu=gpu)
    return Capacity(
        allocatable=free, available=free, bandwidth="100;50", version="0;0", os="linux", arch="x"
    )


def spec(**resources: Any) -> str:
    return json.dumps({"n": "web", "r": resources})


# ---- The spec ----------------------------------------------------------------------------------


def test_the_documented_spec_reads_back() -> None:
    text = '{"n": "web", "r": {"c": 500, "m": 67108864, "s": 16777216, "g": 0}}'
    assert parse_order_spec(text) == OrderResources("web", 500, 64 * MIB, 16 * MIB, 0)
    written = OrderResources("web", 500, 64 * MIB, 16 * MIB).to_spec()
    assert written == '{"n":"web","r":{"c":500,"m":67108864,"s":16777216,"g":0}}'


def test_optional_parts_and_decimal_strings() -> None:
    # No name -> "service"; no "g" -> no GPU; numbers may be decimal strings of whole numbers.
    assert parse_order_spec('{"r": {"c": "1000", "m": "1e9", "s": "2.000"}}') == OrderResources(
        "service", 1000, 10**9, 2, 0
    )
    # A long name is cut to 128 characters rather than refused.
    long_name = json.dumps({"n": "x" * 500, "r": {"c": 1, "m": 1, "s": 1}})
    assert parse_order_spec(long_name).name == "x" * 128
    # The largest accepted value is 2**63 - 1 (what the tunnel's integers carry).
    assert parse_order_spec(spec(c=2**63 - 1, m=0, s=0)).cpu_millicores == 2**63 - 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("n:test;r:us-east", "not a devnet order spec"),  # another client's spec
        ("", "not a devnet order spec"),
        ("[1, 2]", "not a devnet order spec"),
        ('"r"', "not a devnet order spec"),
        ('{"n": "web"}', "not a devnet order spec: KeyError('r')"),
        ('{"r": {"c": 1, "m": 1}}', "not a devnet order spec: KeyError('s')"),
        ('{"r": [1, 2, 3]}', "not a devnet order spec"),
        ('{"r": {"c": -1, "m": 1, "s": 1}}', "c must be a whole number from 0, not -1"),
        ('{"r": {"c": 1.5, "m": 1, "s": 1}}', "c must be a whole number from 0, not 1.5"),
        ('{"r": {"c": 1, "m": true, "s": 1}}', "m must be a whole number, not True"),
        ('{"r": {"c": 1, "m": 1, "s": null}}', "s must be a whole number from 0, not None"),
        ('{"r": {"c": 1, "m": 1, "s": 1, "g": "1.5"}}', "g must be a whole number from 0"),
        ('{"r": {"c": "lots", "m": 1, "s": 1}}', "c 'lots' is not a number"),
        ('{"r": {"c": 9223372036854775808, "m": 1, "s": 1}}', "c must be a whole number from 0"),
        # Strings Decimal reads but no whole number is: each must be refused, quickly.
        ('{"r": {"c": "Infinity", "m": 1, "s": 1}}', "c must be a whole number from 0"),
        ('{"r": {"c": "NaN", "m": 1, "s": 1}}', "c must be a whole number from 0"),
        ('{"r": {"c": "sNaN", "m": 1, "s": 1}}', "c must be a whole number from 0"),
        ('{"r": {"c": "1e999999999", "m": 1, "s": 1}}', "c must be a whole number from 0"),
        ('{"r": {"c": "1e-999999999", "m": 1, "s": 1}}', "c must be a whole number from 0"),
        ("[" * 3000, "not a devnet order spec"),  # nesting deeper than the JSON decoder goes
        ("x" * (MAX_SPEC_BYTES + 1), f"the spec is 4097 characters long; at most {MAX_SPEC_BYTES}"),
    ],
)
def test_bad_specs_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(OrderSpecError) as refused:
        parse_order_spec(text)
    assert message in str(refused.value)


@settings(max_examples=200, deadline=None)
@given(
    st.text(min_size=1, max_size=128),
    st.integers(0, 2**63 - 1),
    st.integers(0, 2**63 - 1),
    st.integers(0, 2**63 - 1),
    st.integers(0, 2**63 - 1),
)
def test_a_written_spec_reads_back_the_same(
    name: str, cpu: int, memory: int, storage: int, gpu: int
) -> None:
    wanted = OrderResources(name, cpu, memory, storage, gpu)
    assert parse_order_spec(wanted.to_spec()) == wanted


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_or_is_refused_cleanly(text: str) -> None:
    try:
        parsed = parse_order_spec(text)
    except OrderSpecError:
        return
    assert min(parsed.cpu_millicores, parsed.memory_bytes, parsed.storage_bytes) >= 0


json_leaf = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["Infinity", "-Infinity", "NaN", "sNaN", "1e999999999", "-0", "1e3", "0.5"])
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=8,
)
number_like = (
    st.integers(-(2**70), 2**70)
    | st.integers(-(2**70), 2**70).map(str)
    | st.decimals().map(str)
    | st.sampled_from(["Infinity", "-Infinity", "NaN", "sNaN", "1e999999999", "1e-99", "-0"])
    | json_value
)
spec_like = st.fixed_dictionaries(
    {"r": st.fixed_dictionaries({"c": number_like, "m": number_like, "s": number_like})},
    optional={"n": json_value},
)


@settings(max_examples=300, deadline=None)
@given(spec_like | json_value)
def test_any_json_gives_whole_resources_or_a_spec_error(data: object) -> None:
    try:
        parsed = parse_order_spec(json.dumps(data))
    except OrderSpecError:
        return
    for value in (parsed.cpu_millicores, parsed.memory_bytes, parsed.storage_bytes):
        assert isinstance(value, int) and 0 <= value < 2**63
    assert isinstance(parsed.gpu_units, int) and 0 <= parsed.gpu_units < 2**63


# ---- A ServiceManifest's resources -------------------------------------------------------------


def service(**resources: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "cpu": {"units": {"val": "500"}},
        "memory": {"size": {"val": "268435456"}},
        "storage": [{"name": "default", "size": {"val": "1073741824"}}],
    }
    base.update(resources)
    return {"name": "web", "image": "nginx:alpine", "resources": base}


def test_a_manifest_service_gives_its_resources() -> None:
    assert order_spec(service()) == OrderResources("web", 500, 256 * MIB, GIB, 0)
    # Storage entries are summed (1 GiB + 512 MiB); the GPU count is read when present.
    two_disks = service(
        storage=[{"size": {"val": "1073741824"}}, {"size": {"val": 536870912}}],
        gpu={"units": {"val": "1"}},
    )
    assert order_spec(two_disks) == OrderResources("web", 500, 256 * MIB, GIB + 512 * MIB, 1)
    # The spec written from it reads back to the same resources.
    assert parse_order_spec(order_spec(two_disks).to_spec()) == order_spec(two_disks)


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ({"name": "web"}, "the service has no resources object"),
        (service(cpu={"units": {}}), "the service's resources lack 'val'"),
        (service(memory=None), "the service's resources lack"),
        (service(storage=[{"size": {}}]), "the service's resources lack 'val'"),
        (service(cpu={"units": {"val": "half"}}), "cpu.units.val 'half' is not a number"),
        (service(memory={"size": {"val": "-1"}}), "memory.size.val must be a whole number"),
        (service(gpu={"units": {"val": "Infinity"}}), "gpu.units.val must be a whole number"),
    ],
)
def test_a_bad_manifest_service_is_refused(broken: dict[str, Any], message: str) -> None:
    with pytest.raises(OrderSpecError, match=message):
        order_spec(broken)


# ---- fits ----------------------------------------------------------------------------------------


def test_fits_compares_with_what_is_free() -> None:
    free = capacity(cpu=3000, memory=6 * GIB, storage=90 * GIB)
    assert fits(free, OrderResources("x", 3000, 6 * GIB, 90 * GIB))  # exactly what is free
    assert not fits(free, OrderResources("x", 3001, 6 * GIB, 90 * GIB))
    assert not fits(free, OrderResources("x", 3000, 6 * GIB + 1, 90 * GIB))
    assert not fits(free, OrderResources("x", 3000, 6 * GIB, 90 * GIB + 1))
    assert not fits(free, OrderResources("x", 1, 1, 1, gpu_units=1))  # no GPU free
    assert fits(capacity(1, 1, 1, gpu=1), OrderResources("x", 1, 1, 1, gpu_units=1))
    # "available" decides, not "allocatable": a node busy with leases has less room.
    busy = Capacity(
        allocatable=Resources(cpu=4000, memory=8 * GIB, storage_ephemeral=100 * GIB),
        available=Resources(cpu=500, memory=8 * GIB, storage_ephemeral=100 * GIB),
        bandwidth="100;50",
        version="0;0",
        os="linux",
        arch="x86_64",
    )
    assert not fits(busy, OrderResources("x", 1000, GIB, GIB))


sizes = st.integers(0, 10**12)
resources = st.tuples(sizes, sizes, sizes, st.integers(0, 4))


@settings(max_examples=300, deadline=None)
@given(resources, resources, resources)
def test_fits_is_monotone(
    wanted: tuple[int, int, int, int],
    smaller_by: tuple[int, int, int, int],
    larger_by: tuple[int, int, int, int],
) -> None:
    order = OrderResources("x", *wanted)
    smaller = OrderResources("x", *(max(0, w - d) for w, d in zip(wanted, smaller_by, strict=True)))
    free = capacity(*wanted)
    bigger = capacity(*(w + d for w, d in zip(wanted, larger_by, strict=True)))
    assert fits(free, order)  # exactly the free room
    assert fits(free, smaller) and fits(bigger, order)
    if any(larger_by):
        grown = OrderResources("x", *(w + d for w, d in zip(wanted, larger_by, strict=True)))
        assert not fits(free, grown)


# ---- node_ask ------------------------------------------------------------------------------------


def test_market_prices_per_block_are_the_documented_rates() -> None:
    assert MARKET.per_block == {
        "cpu": "0.578704",
        "memory": "0.07716",
        "storage": "0.007716",
        "gpu": "97.222222",
    }


def test_ask_for_a_gpu_order_at_market_prices() -> None:
    wanted = OrderResources("train", 8000, 16 * GB, 200 * GB, 1)
    # 8 threads x 0.578704 = 4.629632; 16 GB x 0.077160 = 1.234560;
    # 200 GB x 0.007716 = 1.543200; 1 GPU x 97.222222 = 97.222222
    # total 104.629614 uSPON base units per block -> rounded up: 105
    assert node_ask(MARKET, wanted) == 105


def test_a_small_order_asks_at_least_one_base_unit() -> None:
    wanted = OrderResources("web", 500, 64 * MIB, 16 * MIB)
    # 0.5 x 0.578704 = 0.289352; 0.067108864 GB x 0.07716 = 0.00517812...;
    # 0.016777216 GB x 0.007716 = 0.00012945...; total 0.2946... -> rounded up: 1
    assert node_ask(MARKET, wanted) == 1
    # Nothing at all asked: still 1 (a bid of 0 is refused on chain: Bid.InvalidBidPrice).
    assert node_ask(MARKET, OrderResources("none", 0, 0, 0)) == 1


def test_ask_rounds_up_only_a_fraction() -> None:
    two = prices(cpu="2", memory="0", storage="0")
    assert node_ask(two, OrderResources("x", 1500, 0, 0)) == 3  # 1.5 x 2 = 3 exactly
    assert node_ask(two, OrderResources("x", 1501, 0, 0)) == 4  # 1.501 x 2 = 3.002 -> 4
    # Memory and storage are priced per GB of 10**9 bytes (as the node prices them).
    per_gb = prices(cpu="0", memory="3", storage="5")
    assert node_ask(per_gb, OrderResources("x", 0, 2 * GB, 0)) == 6  # 2 GB x 3
    assert node_ask(per_gb, OrderResources("x", 0, 0, 3 * GB)) == 15  # 3 GB x 5
    assert node_ask(per_gb, OrderResources("x", 0, GIB, 0)) == 4  # 1.073741824 x 3 = 3.22 -> 4


def test_no_per_block_prices_no_ask_and_unpriced_resources_are_free() -> None:
    plain = Prices(
        token="uSPON",
        cpu_per_thread_month_usd="0.75",
        memory_per_gb_month_usd="0.1",
        storage_per_gb_month_usd="0.01",
    )
    assert node_ask(plain, OrderResources("x", 1000, GB, GB)) is None
    assert node_ask(prices(), OrderResources("x", 1000, GB, GB)) is None  # empty: none either
    # No "gpu" price announced: a GPU asked for adds nothing (fits() keeps such orders away).
    assert node_ask(prices(cpu="10"), OrderResources("x", 2000, GB, GB, gpu_units=1)) == 20


per_block_price = st.decimals(min_value=0, max_value=1000, places=6).map(str)


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {"cpu": per_block_price, "memory": per_block_price},
        optional={"storage": per_block_price, "gpu": per_block_price},
    ),
    resources,
    resources,
)
def test_ask_is_monotone_in_the_resources(
    per_block: dict[str, str], wanted: tuple[int, int, int, int], more: tuple[int, int, int, int]
) -> None:
    announced = prices(**per_block)
    order = OrderResources("x", *wanted)
    bigger = OrderResources("x", *(w + m for w, m in zip(wanted, more, strict=True)))
    ask, bigger_ask = node_ask(announced, order), node_ask(announced, bigger)
    assert ask is not None and bigger_ask is not None
    assert 1 <= ask <= bigger_ask


usd_rate = st.decimals(min_value=Decimal("0.001"), max_value=1000, places=3)


@settings(max_examples=200, deadline=None)
@given(
    st.tuples(usd_rate, usd_rate, usd_rate, usd_rate),
    st.integers(0, 32_000),
    st.integers(0, 128 * GIB),
    st.integers(0, 2000 * GB),
    st.integers(0, 1),
)
def test_a_bid_at_the_ask_is_one_the_node_accepts(
    rates: tuple[Decimal, Decimal, Decimal, Decimal],
    cpu: int,
    memory: int,
    storage: int,
    gpu: int,
) -> None:
    # The node refuses an offer below its own ask (fizz_app.core.gateway_desk): the gateway's
    # ask must be that exact price rounded up to a whole base unit, never less, never more.
    sheet = PriceSheet(Rates(*rates), Units(32, 128, 2000, 1, "rtx4090"))
    announced = Prices(**sheet.prices_fields())
    wanted = OrderResources("x", cpu, memory, storage, gpu)
    job = JobManifest(
        name="x",
        image="busybox",
        cpu_millicores=cpu,
        memory_bytes=memory,
        storage_bytes=storage,
        gpu_units=gpu,
    )
    exact = ask_per_block(sheet, job)
    assert exact is not None
    assert node_ask(announced, wanted) == max(1, math.ceil(exact))
