"""Settings: defaults, round-trip, validation errors naming the field, migration, bad files."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import pytest

from fizz_app.core import config as config_module
from fizz_app.core.atomic import write_atomic
from fizz_app.core.config import (
    SCHEMA_VERSION,
    NodeSettings,
    PricingSettings,
    Settings,
    SettingsStore,
)
from fizz_app.core.errors import SettingsError
from fizz_app.core.policy import ResourcePolicy
from fizz_app.core.pricing import load_tier_table
from fizz_app.core.report import HardwareReport


@pytest.fixture
def store(tmp_path: Path) -> SettingsStore:
    return SettingsStore(tmp_path / "settings.json")


def test_missing_file_gives_defaults_and_writes_nothing(store: SettingsStore) -> None:
    settings = store.load()
    assert settings == Settings()
    assert settings.network == "devnet"
    assert settings.effective_profile() == "devnet"
    assert not store.path.exists()


def test_round_trip_keeps_every_field(store: SettingsStore, tmp_path: Path) -> None:
    settings = Settings(
        network="base-sepolia",
        requirements_profile="spheron-fizz",
        storage_dir=tmp_path / "leases",
        node=NodeSettings(region="us-east", gateway_id=7),
        log_level="DEBUG",
    )
    store.save(settings)
    assert store.load() == settings
    on_disk = json.loads(store.path.read_text())
    assert on_disk["schema_version"] == SCHEMA_VERSION
    assert on_disk["node"] == {"region": "us-east", "gateway_id": 7}


def test_saved_file_is_private_to_the_user(store: SettingsStore) -> None:
    store.save(Settings())
    if os.name == "posix":
        assert store.path.stat().st_mode & 0o077 == 0


def test_effective_profile_follows_network_unless_chosen(tmp_path: Path) -> None:
    assert Settings(network="base").effective_profile() == "spheron-fizz"
    assert Settings(network="devnet").effective_profile() == "devnet"
    chosen = Settings(network="devnet", requirements_profile="spheron-fizz")
    assert chosen.effective_profile() == "spheron-fizz"
    assert Settings().effective_storage_dir(tmp_path) == tmp_path / "jobs"
    assert Settings(storage_dir=tmp_path / "x").effective_storage_dir(tmp_path) == tmp_path / "x"


def test_custom_rpc_url_is_validated(store: SettingsStore) -> None:
    assert store.update(rpc_url="https://base.example.org/rpc").rpc_url == (
        "https://base.example.org/rpc"
    )
    with pytest.raises(SettingsError) as caught:
        store.update(rpc_url="base.example.org")
    assert caught.value.field == "rpc_url"


# An address as hosted RPC providers hand them out: a key in the path, one in the query, and a
# user name and password.
RPC_PASSWORD = "sekret-pass"
RPC_PATH_KEY = "Abc123Def456Ghi789Jkl012Mno345Pq"
RPC_QUERY_KEY = "TOPSECRETVALUE"
KEYED_RPC = (
    f"https://ada:{RPC_PASSWORD}@base-mainnet.g.alchemy.com/v2/{RPC_PATH_KEY}"
    f"?apikey={RPC_QUERY_KEY}"
)
RPC_SECRETS = (RPC_PASSWORD, RPC_PATH_KEY, RPC_QUERY_KEY)
MASKED_RPC = "https://base-mainnet.g.alchemy.com/v2/***?apikey=***"


def test_a_keyed_rpc_address_is_saved_whole_and_shown_masked(store: SettingsStore) -> None:
    saved = store.update(rpc_url=KEYED_RPC)
    assert saved.rpc_url == KEYED_RPC  # the node needs the key to use the endpoint
    assert json.loads(store.path.read_text())["rpc_url"] == KEYED_RPC
    shown = saved.public()
    assert shown.rpc_url == MASKED_RPC
    assert shown.public_dict()["rpc_url"] == MASKED_RPC
    assert saved.public_dict() == {**saved.model_dump(mode="json"), "rpc_url": MASKED_RPC}
    # Nothing a log line or a traceback prints of the settings holds the key.
    assert not any(secret in f"{saved!r} {saved!s}" for secret in RPC_SECRETS)
    assert Settings().public() == Settings()


def test_the_masked_address_handed_back_keeps_the_saved_one(store: SettingsStore) -> None:
    store.update(rpc_url=KEYED_RPC)
    assert store.update(rpc_url=MASKED_RPC, network="base").rpc_url == KEYED_RPC
    assert store.update(rpc_url=f" {MASKED_RPC} ").rpc_url == KEYED_RPC
    # An edit of the masked form cannot be used (its key is gone): refused, nothing saved.
    before = store.path.read_bytes()
    with pytest.raises(SettingsError) as caught:
        store.update(rpc_url=MASKED_RPC.replace("base-mainnet", "base-sepolia"))
    assert caught.value.field == "rpc_url"
    assert "***" in caught.value.message and "key included" in caught.value.remedy
    assert store.path.read_bytes() == before
    # A new address replaces it; None goes back to the network's public endpoints.
    assert store.update(rpc_url="https://rpc.example.org/base").rpc_url == (
        "https://rpc.example.org/base"
    )
    assert store.update(rpc_url=None).rpc_url is None


def test_a_refused_or_bad_rpc_address_is_quoted_without_its_key(store: SettingsStore) -> None:
    typo = KEYED_RPC.replace("/v2/", "/v2 /")  # a space: not an address
    with pytest.raises(SettingsError) as caught:
        store.update(rpc_url=typo)
    assert caught.value.field == "rpc_url" and "found 'https://" in str(caught.value)
    assert not any(secret in str(caught.value) for secret in RPC_SECRETS), str(caught.value)
    store.path.write_text(json.dumps({"schema_version": 2, "rpc_url": typo}))
    with pytest.raises(SettingsError) as caught:
        store.load()
    assert caught.value.field == "rpc_url"
    assert not any(secret in str(caught.value) for secret in RPC_SECRETS), str(caught.value)


def test_update_validates_and_saves(store: SettingsStore) -> None:
    updated = store.update(network="base", node={"region": "india", "gateway_id": 3})
    assert updated.network == "base"
    assert store.load().node == NodeSettings(region="india", gateway_id=3)


def test_update_with_bad_value_names_field_and_writes_nothing(store: SettingsStore) -> None:
    store.save(Settings(network="base"))
    before = store.path.read_bytes()
    with pytest.raises(SettingsError) as caught:
        store.update(log_level="LOUD")
    assert caught.value.field == "log_level"
    assert "log_level" in str(caught.value)
    assert store.path.read_bytes() == before


@pytest.mark.parametrize(
    ("content", "field", "words"),
    [
        ({"netwrok": "base"}, "netwrok", "unknown field"),
        ({"schema_version": 1, "node": {"gateway_id": -3}}, "node.gateway_id", "greater than"),
        ({"schema_version": 1, "node": {"region": "Not A Region!"}}, "node.region", "pattern"),
        ({"schema_version": 1, "log_level": 5}, "log_level", "bad value"),
        ({"schema_version": "one"}, "schema_version", "whole number"),
    ],
)
def test_bad_field_is_named_and_file_kept(
    store: SettingsStore, content: dict[str, object], field: str, words: str
) -> None:
    text = json.dumps(content)
    store.path.write_text(text)
    with pytest.raises(SettingsError) as caught:
        store.load()
    error = caught.value
    assert error.field == field
    assert repr(field) in error.message or field in error.message
    assert words in str(error)
    assert "left untouched" in error.remedy
    assert error.path == str(store.path)
    assert store.path.read_text() == text


def test_invalid_json_names_line_and_keeps_file(store: SettingsStore) -> None:
    text = '{\n  "network": "base",\n  "log_level" "INFO"\n}\n'
    store.path.write_text(text)
    with pytest.raises(SettingsError, match=r"not valid JSON: line 3"):
        store.load()
    assert store.path.read_text() == text


def test_non_object_json_is_refused(store: SettingsStore) -> None:
    store.path.write_text("[1, 2]")
    with pytest.raises(SettingsError, match="JSON object"):
        store.load()


def test_newer_schema_asks_for_an_update_and_keeps_file(store: SettingsStore) -> None:
    text = json.dumps({"schema_version": SCHEMA_VERSION + 1, "future_field": True})
    store.path.write_text(text)
    with pytest.raises(SettingsError) as caught:
        store.load()
    assert "newer Fizz Node" in caught.value.message
    assert "Update Fizz Node" in caught.value.remedy
    assert store.path.read_text() == text


def test_save_over_a_bad_file_moves_it_aside(store: SettingsStore) -> None:
    store.path.write_text('{"netwrok": "base"}')
    store.save(Settings(network="base"))
    kept = list(store.path.parent.glob("settings.invalid-*.json"))
    assert len(kept) == 1
    assert kept[0].read_text() == '{"netwrok": "base"}'
    assert store.load().network == "base"


def test_schema_0_is_migrated_with_a_backup(store: SettingsStore) -> None:
    old = {"network": "base-sepolia", "region": "japan", "gateway_id": 12}
    store.path.write_text(json.dumps(old))
    settings = store.load()
    assert settings.node == NodeSettings(region="japan", gateway_id=12)
    assert settings.network == "base-sepolia"
    backup = store.path.with_name("settings.v0.json")
    assert json.loads(backup.read_text()) == old
    assert json.loads(store.path.read_text())["schema_version"] == SCHEMA_VERSION
    # Loading again is a no-op: nothing left to migrate.
    assert store.load() == settings


def test_every_older_schema_has_a_migration() -> None:
    assert sorted(config_module.MIGRATIONS) == list(range(SCHEMA_VERSION))


def test_failed_atomic_write_leaves_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "settings.json"
    target.write_bytes(b"old")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]


def test_atomic_write_creates_parents(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "file.json"
    write_atomic(target, b"{}")
    assert target.read_bytes() == b"{}"


# ---- Schema 2: pricing and limits ---------------------------------------------------------------

V1_FILE = {
    "schema_version": 1,
    "network": "base-sepolia",
    "rpc_url": "https://sepolia.example.org/rpc",
    "requirements_profile": "spheron-fizz",
    "storage_dir": "/srv/fizz/leases",
    "node": {"region": "us-east", "gateway_id": 7},
    "log_level": "DEBUG",
}


def test_schema_1_file_is_migrated_keeping_every_value(store: SettingsStore) -> None:
    text = json.dumps(V1_FILE, indent=2)
    store.path.write_text(text)
    settings = store.load()
    assert settings.model_dump(mode="json", exclude={"schema_version", "pricing", "limits"}) == {
        k: v for k, v in V1_FILE.items() if k != "schema_version"
    }
    assert settings.pricing == PricingSettings() and settings.limits == ResourcePolicy()
    assert store.path.with_name("settings.v1.json").read_text() == text
    on_disk = json.loads(store.path.read_text())
    assert on_disk["schema_version"] == SCHEMA_VERSION == 2
    assert on_disk["pricing"]["preset"] == "market"
    assert on_disk["limits"]["idle_only"] is True


def test_pricing_and_limits_round_trip_as_plain_text(store: SettingsStore) -> None:
    store.update_section("pricing", preset="custom", cpu_per_thread_month_usd=0.9)
    store.update_section(
        "limits",
        cpu_threads=4,
        schedule=[{"days": ["mon", "tue"], "start": "18:00", "end": "08:00"}],
    )
    on_disk = json.loads(store.path.read_text())
    # Money is a decimal string, never a float.
    assert on_disk["pricing"]["cpu_per_thread_month_usd"] == "0.9"
    assert on_disk["pricing"]["uspon_usd"] == "1"
    loaded = store.load()
    assert loaded.pricing.cpu_per_thread_month_usd == Decimal("0.9")
    assert loaded.pricing.preset == "custom"
    assert loaded.limits.cpu_threads == 4
    assert loaded.limits.schedule[0].days == ("mon", "tue")


@pytest.mark.parametrize(
    ("section", "changes", "field", "words"),
    [
        (
            "pricing",
            {"cpu_per_thread_month_usd": -1},
            "pricing.cpu_per_thread_month_usd",
            "negative",
        ),
        (
            "pricing",
            {"memory_per_gb_month_usd": "lots"},
            "pricing.memory_per_gb_month_usd",
            "number",
        ),
        (
            "pricing",
            {"gpu_per_unit_month_usd": "1e9"},
            "pricing.gpu_per_unit_month_usd",
            "plausible",
        ),
        ("pricing", {"preset": "cheap"}, "pricing.preset", "market"),
        ("pricing", {"accepted_tokens": ["USDC"]}, "pricing.accepted_tokens", "uSPON must stay"),
        ("pricing", {"accepted_tokens": ["uSPON", "WETH"]}, "pricing.accepted_tokens", "WETH"),
        ("pricing", {"uspon_usd": 0}, "pricing.uspon_usd", "between"),
        ("limits", {"idle_minutes": 0}, "limits.idle_minutes", "greater than"),
        ("limits", {"cpu_threads": -2}, "limits.cpu_threads", "greater than"),
        ("limits", {"on_pause": "explode"}, "limits.on_pause", "finish"),
        ("limits", {"pause_programs": ["C:\\games\\x.exe"]}, "limits.pause_programs", "no folder"),
        (
            "limits",
            {"schedule": [{"days": ["mon"], "start": "25:00", "end": "08:00"}]},
            "limits.schedule.0.start",
            "pattern",
        ),
        ("limits", {"idle_mins": 5}, "limits.idle_mins", "no such setting"),
    ],
)
def test_refused_update_names_the_field_and_leaves_the_file_byte_identical(
    store: SettingsStore, section: str, changes: dict[str, object], field: str, words: str
) -> None:
    store.update_section("pricing", preset="premium")
    before = store.path.read_bytes()
    stamp = store.fingerprint()
    with pytest.raises(SettingsError) as caught:
        store.update_section(section, **changes)
    assert caught.value.field == field
    assert field in caught.value.message and words in str(caught.value)
    assert "Nothing was saved" in caught.value.remedy
    assert store.path.read_bytes() == before
    assert store.fingerprint() == stamp
    assert not list(store.path.parent.glob("*.invalid-*"))


def test_hand_edited_bad_pricing_is_named_and_kept(store: SettingsStore) -> None:
    text = json.dumps({"schema_version": 2, "pricing": {"storage_per_gb_month_usd": "-0.5"}})
    store.path.write_text(text)
    with pytest.raises(SettingsError) as caught:
        store.load()
    assert caught.value.field == "pricing.storage_per_gb_month_usd"
    assert "cannot be negative" in caught.value.message
    assert store.path.read_text() == text


def test_tokens_are_normalised_with_uspon_first(store: SettingsStore) -> None:
    updated = store.update_section("pricing", accepted_tokens=["usdc", "USPON", "USDC"])
    assert updated.pricing.accepted_tokens == ("uSPON", "USDC")
    fees = {t.symbol: t.fee for t in updated.pricing.payment_tokens()}
    assert fees == {"uSPON": Decimal(0), "USDC": Decimal("0.02")}


# ---- Presets and custom rates -------------------------------------------------------------------


def test_named_preset_prices_from_the_table(sample_report: HardwareReport) -> None:
    table = load_tier_table()
    sheet = Settings(pricing=PricingSettings(preset="premium")).price_sheet(sample_report, table)
    market = table.market_rates("rtx4090")
    assert sheet.preset == "premium"
    assert sheet.rates.cpu == market.cpu * Decimal("1.25")
    assert sheet.rates.gpu is not None and market.gpu is not None
    assert sheet.rates.gpu == market.gpu * Decimal("1.25")


def test_custom_takes_market_rates_where_none_is_stored(sample_report: HardwareReport) -> None:
    table = load_tier_table()
    pricing = PricingSettings(preset="custom", cpu_per_thread_month_usd=Decimal("0.9"))
    sheet = Settings(pricing=pricing).price_sheet(sample_report, table)
    assert sheet.preset == "custom"
    assert sheet.rates.cpu == Decimal("0.9")
    assert sheet.rates.memory == table.memory
    assert sheet.rates.gpu == table.gpus["rtx4090"].usd_per_month


def test_setting_one_price_keeps_the_presets_others(store: SettingsStore) -> None:
    table = load_tier_table()
    current = store.update_section("pricing", preset="competitive").pricing
    raw = current.with_rates(table, "rtx4090", {"cpu": "0.9"})
    updated = store.update(pricing=raw).pricing
    assert updated.preset == "custom"
    assert updated.cpu_per_thread_month_usd == Decimal("0.9")
    assert updated.memory_per_gb_month_usd == table.memory * Decimal("0.85")
    assert updated.gpu_per_unit_month_usd == table.gpus["rtx4090"].usd_per_month * Decimal("0.85")
    # Choosing a preset again clears the custom prices.
    back = store.update(pricing=updated.with_preset("market")).pricing
    assert back == PricingSettings(preset="market", accepted_tokens=updated.accepted_tokens)


def test_units_follow_limits_and_never_exceed_the_hardware(sample_report: HardwareReport) -> None:
    table = load_tier_table()
    reserve = Settings().price_sheet(sample_report, table).units
    assert (reserve.cpu_units, reserve.memory_gb, reserve.gpu_units) == (31, 62, 1)
    limits = ResourcePolicy(cpu_threads=4, memory_gb=1000, gpu=False)
    units = Settings(limits=limits).price_sheet(sample_report, table).units
    assert (units.cpu_units, units.memory_gb, units.gpu_units) == (4, 64, 0)
    assert units.storage_gb == reserve.storage_gb


# ---- Live changes -------------------------------------------------------------------------------


def test_fingerprint_detects_every_save(store: SettingsStore) -> None:
    assert store.fingerprint() is None
    assert store.load_if_changed(None) is None  # no file, nothing new
    writer = SettingsStore(store.path)  # another process, in effect
    writer.save(Settings())
    change = store.load_if_changed(None)
    assert change is not None and change.settings == Settings() and change.error is None
    last = change.fingerprint
    assert last == store.fingerprint()
    assert store.load_if_changed(last) is None
    # Same size, same second: still seen, because every save is a new file.
    writer.update_section("pricing", preset="premium")
    change = store.load_if_changed(last)
    assert change is not None and change.settings is not None
    assert change.settings.pricing.preset == "premium"
    last = change.fingerprint
    writer.update_section("pricing", preset="market")
    writer.update_section("pricing", preset="premium")  # back to identical bytes
    change = store.load_if_changed(last)
    assert change is not None and change.settings is not None


def test_bad_change_is_reported_once_and_keeps_the_file(store: SettingsStore) -> None:
    store.save(Settings())
    last = store.fingerprint()
    text = '{"schema_version": 2, "limits": {"idle_minutes": -1}}'
    store.path.write_text(text)
    change = store.load_if_changed(last)
    assert change is not None and change.settings is None
    assert change.error is not None and change.error.field == "limits.idle_minutes"
    assert store.load_if_changed(change.fingerprint) is None  # not reported again
    assert store.path.read_text() == text


def test_migration_on_reload_is_not_reported_twice(store: SettingsStore) -> None:
    store.path.write_text(json.dumps(V1_FILE))
    change = store.load_if_changed(None)
    assert change is not None and change.settings is not None
    # load() rewrote the file as schema 2; the change carries that version's fingerprint.
    assert store.load_if_changed(change.fingerprint) is None
