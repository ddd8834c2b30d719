"""The node engine: the one owner of state, and the only object front ends talk to.

Use it as an async context manager on the engine's event loop::

    async with Node(store=SettingsStore(paths.settings_path()), data_dir=paths.data_dir()) as node:
        snapshot = node.snapshot()          # everything to draw, at event number snapshot.seq
        async with node.subscribe() as events:
            async for event in events:      # numbered; a gap in seq means: re-read snapshot()
                ...
        await node.check_hardware()         # an intent

Every dependency is injected; blocking work (settings file, hardware probe) runs in worker
threads so the loop stays responsive.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import __version__
from .bandwidth import with_measurement
from .checks import Verdict
from .config import Settings, SettingsStore
from .events import EventBus, HardwareChecked, SettingsChanged, StatusChanged, Subscription
from .hardware import probe_hardware
from .report import HardwareReport
from .requirements import evaluate, load_profile
from .state import DesiredState, NodeSnapshot, NodeStatus

__all__ = ["Node", "HardwareProbe"]

log = logging.getLogger(__name__)

HardwareProbe = Callable[[Path], HardwareReport]
"""Blocking function that probes the machine, given the lease-data folder."""


class Node:
    """Owns settings, the latest system check, and the node's status.

    Args:
        store: where settings are loaded from and saved to.
        data_dir: the app's data folder.
        probe: the hardware probe (the real one by default).
        bus: the event bus (a fresh one by default).
        clock: returns Unix time; injected for tests.
    """

    def __init__(
        self,
        *,
        store: SettingsStore,
        data_dir: Path,
        probe: HardwareProbe = probe_hardware,
        bus: EventBus | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._data_dir = data_dir
        self._probe = probe
        self._bus = bus or EventBus(clock=clock)
        self._clock = clock
        self._settings = Settings()
        self._check_lock = asyncio.Lock()
        self._snapshot = NodeSnapshot(
            seq=0,
            version=__version__,
            status=NodeStatus.STARTING,
            status_reason="Loading settings",
            desired=DesiredState.OFFLINE,
            network=self._settings.network,
            profile=self._settings.effective_profile(),
            data_dir=str(data_dir),
        )

    # ---- Lifecycle

    async def __aenter__(self) -> Node:
        """Load settings and run the first system check.

        Raises:
            SettingsError: the settings file is bad (it is left untouched).
        """
        self._settings = await asyncio.to_thread(self._store.load)
        self._snapshot = self._snapshot.evolve(
            network=self._settings.network, profile=self._settings.effective_profile()
        )
        await self.check_hardware()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._set_status(NodeStatus.OFFLINE, "Stopped")

    # ---- Front-end contract

    def snapshot(self) -> NodeSnapshot:
        """Return the current state; its ``seq`` is the last event it includes."""
        return self._snapshot.evolve(seq=self._bus.last_seq)

    def subscribe(self) -> Subscription:
        """Return a subscription to events published from now on."""
        return self._bus.subscribe()

    @property
    def settings(self) -> Settings:
        return self._settings

    # ---- Intents

    async def check_hardware(self) -> Verdict:
        """Probe the machine, judge it against the settings' profile, publish the result.

        Raises:
            ProfileError: the settings name an unknown requirement profile.
        """
        async with self._check_lock:
            settings = self._settings
            profile = await asyncio.to_thread(load_profile, settings.effective_profile())
            storage = settings.effective_storage_dir(self._data_dir)
            report = await asyncio.to_thread(self._probe, storage)
            report = await asyncio.to_thread(with_measurement, report, self._data_dir)
            verdict = evaluate(report, profile)
            self._snapshot = self._snapshot.evolve(
                hardware=report, verdict=verdict, checked_at=self._clock(), profile=profile.name
            )
            self._bus.publish(HardwareChecked(report=report, verdict=verdict))
            log.info(
                "system check against %s: %s",
                profile.name,
                "meets the minimums" if verdict.meets_minimum else "below the minimums",
            )
            self._set_status(NodeStatus.OFFLINE, f"{verdict.headline()}.")
            return verdict

    async def update_settings(self, **changes: Any) -> Settings:
        """Validate and save ``changes`` to the settings, publish them, and re-run the system
        check when they affect it.

        Raises:
            SettingsError: a value is invalid (the message names the field); nothing is saved.
        """
        before = self._settings
        self._settings = await asyncio.to_thread(self._store.update, **changes)
        self._snapshot = self._snapshot.evolve(
            network=self._settings.network, profile=self._settings.effective_profile()
        )
        self._bus.publish(SettingsChanged(settings=self._settings.model_dump(mode="json")))
        affects_check = (
            before.effective_profile() != self._settings.effective_profile()
            or before.storage_dir != self._settings.storage_dir
        )
        if affects_check:
            await self.check_hardware()
        return self._settings

    # ---- Private API

    def _set_status(self, status: NodeStatus, reason: str) -> None:
        if (status, reason) == (self._snapshot.status, self._snapshot.status_reason):
            return
        self._snapshot = self._snapshot.evolve(status=status, status_reason=reason)
        self._bus.publish(StatusChanged(status=status, reason=reason))
