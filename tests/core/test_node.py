"""The engine's front-end contract: snapshot, numbered events, intents (real hardware probe)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from fizz_app.core.config import SettingsStore
from fizz_app.core.errors import ProfileError, SettingsError
from fizz_app.core.events import HardwareChecked, SettingsChanged, StatusChanged
from fizz_app.core.node import Node
from fizz_app.core.state import NodeSnapshot, NodeStatus

from .test_config import KEYED_RPC, MASKED_RPC, RPC_SECRETS


def _node(home: Path) -> Node:
    return Node(store=SettingsStore(home / "settings.json"), data_dir=home)


async def test_entering_runs_the_system_check(fizz_home: Path) -> None:
    async with _node(fizz_home) as node:
        snapshot = node.snapshot()
        assert snapshot.profile == "devnet"
        assert snapshot.verdict is not None and snapshot.verdict.meets_minimum
        assert snapshot.hardware is not None
        assert snapshot.hardware.storage.path == str(fizz_home / "jobs")
        assert snapshot.status is NodeStatus.OFFLINE
        assert "meets the Local devnet minimums" in snapshot.status_reason
        assert snapshot.seq >= 2  # HardwareChecked, then StatusChanged
        json.dumps(snapshot.to_dict())
        assert NodeSnapshot.from_dict(snapshot.to_dict()) == snapshot


async def test_recheck_publishes_numbered_events(fizz_home: Path) -> None:
    async with _node(fizz_home) as node:
        first = node.snapshot()
        async with node.subscribe() as events:
            verdict = await node.check_hardware()
            event = await events.get()
        assert isinstance(event, HardwareChecked)
        assert event.seq == first.seq + 1
        assert event.verdict == verdict
        assert node.snapshot().checked_at is not None
        assert node.snapshot().seq == event.seq  # status unchanged: no StatusChanged


async def test_settings_change_rechecks_against_new_profile(fizz_home: Path) -> None:
    async with _node(fizz_home) as node:
        async with node.subscribe() as events:
            await node.update_settings(requirements_profile="spheron-fizz")
            kinds: list[type] = []
            while StatusChanged not in kinds:
                kind = type(await asyncio.wait_for(events.get(), 10))
                # The engine's housekeeping publishes its own events meanwhile.
                if kind in (SettingsChanged, HardwareChecked, StatusChanged):
                    kinds.append(kind)
        assert kinds == [SettingsChanged, HardwareChecked, StatusChanged]
        snapshot = node.snapshot()
        assert snapshot.profile == "spheron-fizz"
        assert snapshot.verdict is not None
        # This project's machines have 2 CPU threads: below the real network's 8.
        if snapshot.hardware is not None and snapshot.hardware.cpu.threads < 8:
            assert not snapshot.verdict.meets_minimum
            assert "(CPU" in snapshot.status_reason
    saved = json.loads((fizz_home / "settings.json").read_text())
    assert saved["requirements_profile"] == "spheron-fizz"


async def test_bad_setting_is_refused_and_nothing_published(fizz_home: Path) -> None:
    async with _node(fizz_home) as node:
        async with node.subscribe() as events:
            with pytest.raises(SettingsError, match="network"):
                await node.update_settings(network="Not Valid")
            published = events.drain()  # the engine's housekeeping may publish meanwhile
        assert not [event for event in published if isinstance(event, SettingsChanged)]
        assert node.settings.network != "Not Valid"
        assert not (fizz_home / "settings.json").exists()


async def test_bad_settings_file_stops_start_and_is_kept(fizz_home: Path) -> None:
    fizz_home.mkdir(parents=True)
    (fizz_home / "settings.json").write_text('{"netwrok": "base"}')
    with pytest.raises(SettingsError, match="netwrok"):
        async with _node(fizz_home):
            pass
    assert (fizz_home / "settings.json").read_text() == '{"netwrok": "base"}'


async def test_unknown_profile_in_settings_is_a_clear_error(fizz_home: Path) -> None:
    fizz_home.mkdir(parents=True)
    (fizz_home / "settings.json").write_text('{"schema_version": 1, "requirements_profile": "x"}')
    with pytest.raises(ProfileError, match="Choose one of: devnet, spheron-fizz"):
        async with _node(fizz_home):
            pass


async def test_a_keyed_rpc_address_never_leaves_the_engine_unmasked(
    fizz_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    node = Node(store=SettingsStore(fizz_home / "settings.json"), data_dir=fizz_home, tick=0.1)
    async with node:
        async with node.subscribe() as events:
            returned = await node.update_settings(rpc_url=KEYED_RPC)
            # Another process (the CLI, a second app) saves the file: the reload is announced
            # the same way.
            store = SettingsStore(fizz_home / "settings.json")
            store.update(log_level="DEBUG")
            for _ in range(200):
                if node.settings.log_level == "DEBUG":
                    break
                await asyncio.sleep(0.05)
            await node.update_section("limits", idle_minutes=7)
            published = events.drain()
        changed = [event for event in published if isinstance(event, SettingsChanged)]
        assert len(changed) == 3
        assert all(event.settings["rpc_url"] == MASKED_RPC for event in changed)
        assert returned.rpc_url == node.settings.rpc_url == MASKED_RPC
        assert (await node.update_section("limits", idle_minutes=8)).rpc_url == MASKED_RPC
        # A front end that saves its form whole hands the masked form back: the key stays.
        assert (await node.update_settings(rpc_url=node.settings.rpc_url)).rpc_url == MASKED_RPC
        assert store.load().rpc_url == KEYED_RPC
        shown = json.dumps(
            [node.snapshot().to_dict(), *(event.to_dict() for event in published)], default=str
        )
        shown += "\n".join(record.getMessage() for record in caplog.records)
        assert not any(secret in shown for secret in RPC_SECRETS)
