"""Settings: defaults, round-trip, validation errors naming the field, migration, bad files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fizz_app.core import config as config_module
from fizz_app.core.atomic import write_atomic
from fizz_app.core.config import SCHEMA_VERSION, NodeSettings, Settings, SettingsStore
from fizz_app.core.errors import SettingsError


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
