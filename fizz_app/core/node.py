"""The node engine: the one owner of state, and the only object front ends talk to.

Use it as an async context manager on the engine's event loop::

    async with Node(store=SettingsStore(paths.settings_path()), data_dir=paths.data_dir()) as node:
        snapshot = node.snapshot()          # everything to draw, at event number snapshot.seq
        async with node.subscribe() as events:
            async for event in events:      # numbered; a gap in seq means: re-read snapshot()
                ...
        await node.start()                  # an intent: go online and take leases

The engine persists what the user asked for (online, paused until a time, offline:
:mod:`fizz_app.core.desired`) and reconciles towards it: after a restart it goes online again by
itself, re-adopting the containers of leases that kept running. Going online means: unlock the
wallet, find the node's registration and gateway on chain, keep the tunnel up
(:class:`~fizz_app.core.tunnel.GatewayLink`, pinned to the certificate the gateway published on
chain: :mod:`fizz_app.core.node_online`) and answer lease messages through the
:class:`~fizz_app.core.gateway_desk.GatewayDesk`. A ticker evaluates the owner's policy,
polls the leases and reports usage. Every dependency is injected; blocking work runs in worker
threads so heartbeats and front ends never wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .. import __version__
from .bandwidth import load_measurement, save_measurement, with_measurement
from .chain_health import FIRST_RETRY_S
from .checks import Verdict
from .config import Fingerprint, Settings, SettingsStore
from .desired import Desired, DesiredStore
from .diagnostics import NodeFacts, diagnose
from .errors import UserFacingError
from .events import (
    DesiredStateChanged,
    DiagnosisChanged,
    EventBus,
    HardwareChecked,
    LeaseChanged,
    SettingsChanged,
    StatusChanged,
    Subscription,
)
from .gateway_desk import GatewayDesk
from .hardware import gpu_temperature, probe_hardware
from .idle import collect_facts
from .jobs.lease_store import Lease, LeaseStore
from .jobs.leases import LeaseManager
from .jobs.manifest import Capacity, JobManifest, Runtime
from .ledger import EarningsLedger
from .node_online import GatewaySession
from .offer import Offer, capacity_report, offer_from_report
from .online import (
    OnlineTarget,
    WalletAccess,
    ask_per_block,
    default_chain,
    default_runners,
    env_passphrase,
)
from .policy import PolicyDecision, PolicyFacts, ResourcePolicy, evaluate, units_offered
from .pricing import PriceSheet, PricingError, load_tier_table
from .report import HardwareReport
from .requirements import evaluate as judge_hardware
from .requirements import load_profile
from .state import DesiredState, NodeSnapshot, NodeStatus
from .tunnel import GatewayLink

if TYPE_CHECKING:
    from .chain import AsyncChainClient
    from .jobs.runner import JobRunner

__all__ = ["Node", "HardwareProbe"]

log = logging.getLogger(__name__)

HardwareProbe = Callable[[Path], HardwareReport]
"""Blocking function that probes the machine, given the lease-data folder."""


class FactsProbe(Protocol):
    """Blocking function that probes what the policy rules need (``collect_facts``):
    ``processes=False`` may skip listing the running programs."""

    def __call__(self, gpu_temp_c: float | None, *, processes: bool) -> PolicyFacts: ...


_FACTS_EVERY_S = 5.0
_USAGE_EVERY_S = 10.0
_IDLE_TICK_FACTOR = 5
_MARKET_MEMORY_S = 3600.0
"""How long a refused offer keeps explaining "why no jobs?"."""


class Node(GatewaySession):
    """Owns settings, the system check, the desired state, the gateway link and the leases.

    Args:
        store: where settings are loaded from and saved to.
        data_dir: the app's data folder.
        probe: the hardware probe (the real one by default).
        bus: the event bus (a fresh one by default).
        clock: returns Unix time; injected for tests.
        wallets: the wallet (the OS keyring or keystore one by default).
        passphrase: gives the keystore passphrase when the wallet needs one.
        chain: builds the chain client for the settings (their network by default).
        runners: builds the job runners, given this installation's instance id.
        facts: probes idle time, battery, programs, fullscreen (given the GPU temperature).
        tick: seconds between housekeeping rounds while leases run or the node is changing;
            an idle, settled node rounds five times less often (intents and lease changes
            wake it at once).
        link_options: extra :class:`GatewayLink` arguments (tests shorten timers with them).
        chain_every: seconds between on-chain reward and earnings checks while online and
            leases run (five times that while none runs).
        chain_retry: seconds before the first retry of a chain check that failed; doubled
            after each further failure, up to the normal interval.
    """

    def __init__(
        self,
        *,
        store: SettingsStore,
        data_dir: Path,
        probe: HardwareProbe = probe_hardware,
        bus: EventBus | None = None,
        clock: Callable[[], float] = time.time,
        wallets: WalletAccess | None = None,
        passphrase: Callable[[], str | None] = env_passphrase,
        chain: Callable[[Settings], AsyncChainClient] | None = None,
        runners: Callable[[str], list[JobRunner]] | None = None,
        facts: FactsProbe = collect_facts,
        link_options: Mapping[str, Any] | None = None,
        tick: float = 1.0,
        chain_every: float = 60.0,
        chain_retry: float = FIRST_RETRY_S,
    ) -> None:
        self._store = store
        self._data_dir = data_dir
        self._probe = probe
        self._bus = bus or EventBus(clock=clock)
        self._clock = clock
        self._wallets = wallets
        self._passphrase = passphrase
        self._chain_factory = chain or (lambda settings: default_chain(settings, data_dir))
        self._runner_factory = runners or (lambda instance: default_runners(data_dir, instance))
        self._facts_probe = facts
        self._link_options = dict(link_options or {})
        self._tick = tick
        self._settings = Settings()
        self._desired_store = DesiredStore(data_dir)
        self._desired = Desired()
        self._check_lock = asyncio.Lock()
        # One settings write or reload at a time: a reload racing a save would see the saved
        # file as someone else's change and apply (and announce) it a second time.
        self._settings_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._tick_wake = asyncio.Event()
        self._manager: LeaseManager | None = None
        self._desk: GatewayDesk | None = None
        self._link: GatewayLink | None = None
        self._online_task: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._error: str | None = None
        self._pin_error: str | None = None
        """Set while the gateway's certificate is not the published one; cleared on connect."""
        self._registered: bool | None = None
        self._rewards = None
        self._decision: PolicyDecision | None = None
        self._facts = PolicyFacts()
        self._facts_at = 0.0
        self._usage_at = 0.0
        self._bandwidth_task: asyncio.Task[None] | None = None
        self._ledger: EarningsLedger | None = None
        self._online_since: float | None = None
        self._ledger_at = 0.0
        self._target: OnlineTarget | None = None
        self._settings_seen: Fingerprint | None = None
        self._stop_noticed_at: float | None = None
        """When the gateway was warned that running leases stop (the owner's pause setting)."""
        self._chain_every = chain_every
        self._chain_retry = chain_retry
        self._free: Capacity | None = None
        """What a new lease could get, refreshed each tick (it pings the container engine)."""
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

    # ---- Lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> Node:
        """Load settings and the desired state, recover leases, run the first system check,
        and go online again if that is what the user last asked for.

        Raises:
            SettingsError: the settings file is bad (it is left untouched).
            LeaseStoreError: the lease database cannot be opened.
        """
        self._settings_seen = await asyncio.to_thread(self._store.fingerprint)
        self._settings = await asyncio.to_thread(self._store.load)
        self._desired = await asyncio.to_thread(self._desired_store.load)
        self._snapshot = self._snapshot.evolve(
            network=self._settings.network,
            profile=self._settings.effective_profile(),
            desired=self._desired.state,
            paused_until=self._desired.paused_until,
        )
        await self.check_hardware()
        self._ledger = await asyncio.to_thread(
            EarningsLedger, self._data_dir / "ledger.sqlite3", clock=self._clock
        )
        await self._open_leases()
        # One round now, so the snapshot a front end reads first is complete (diagnosis,
        # earnings, free capacity) and the events it implies come before enter returns.
        await self._tick_once()
        self._ticker = asyncio.create_task(self._tick_forever(), name="node-ticker")
        if self._desired.state is not DesiredState.OFFLINE:
            self._ensure_online()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Drain: stop taking leases, close the running ones (the gateway is told), log off."""
        await self._go_offline(stop_jobs=True)
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._manager is not None:
            await asyncio.to_thread(self._manager.shutdown, stop_jobs=True)
        if self._ledger is not None:
            await asyncio.to_thread(self._ledger.close)
        self._set_status(NodeStatus.OFFLINE, "Stopped")

    # ---- Front-end contract -------------------------------------------------------------

    def snapshot(self) -> NodeSnapshot:
        """Return the current state; its ``seq`` is the last event it includes."""
        return self._snapshot.evolve(seq=self._bus.last_seq)

    def subscribe(self) -> Subscription:
        """Return a subscription to events published from now on."""
        return self._bus.subscribe()

    @property
    def settings(self) -> Settings:
        """The settings in use, as front ends may show them: a custom RPC address comes with
        its keys masked (:meth:`Settings.public`). To keep it, leave ``rpc_url`` out of
        :meth:`update_settings` (or pass this masked form back unchanged)."""
        return self._settings.public()

    # ---- Intents ------------------------------------------------------------------------

    async def start(self) -> None:
        """Go online and take leases (and keep doing so after restarts)."""
        await self._set_desired(DesiredState.ONLINE, None)
        self._ensure_online()

    async def stop(self) -> None:
        """Go offline: close running leases (the gateway is told) and log off."""
        await self._set_desired(DesiredState.OFFLINE, None)
        await self._go_offline(stop_jobs=True)

    async def pause(self, seconds: float | None = None) -> None:
        """Take no new leases for ``seconds`` (until :meth:`resume` when ``None``); running
        leases go on, and the node stays connected."""
        until = None if seconds is None else self._clock() + max(0.0, seconds)
        await self._set_desired(DesiredState.PAUSED, until)
        self._ensure_online()

    async def resume(self) -> None:
        """End a pause."""
        await self.start()

    async def lease_logs(self, lease_id: str, tail: int = 200) -> list[str]:
        """Return the last ``tail`` log lines kept for lease ``lease_id``, oldest first, each
        as ``"HH:MM:SS source: text"`` (``source`` is ``node`` or ``job``); an unknown lease or
        one without output gives an empty list.

        Raises:
            UserFacingError: the lease book is not open yet (the engine is still starting).
        """
        manager = self._manager
        if manager is None:
            raise UserFacingError(
                "The leases are not loaded yet.", "Wait a moment while Fizz Node starts."
            )
        lines = await asyncio.to_thread(manager.logs, lease_id, max(1, tail))
        return [
            f"{datetime.fromtimestamp(line.time):%H:%M:%S} {line.source}: {line.text}"
            for line in lines
        ]

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
            verdict = judge_hardware(report, profile)
            self._snapshot = self._snapshot.evolve(
                hardware=report, verdict=verdict, checked_at=self._clock(), profile=profile.name
            )
            self._bus.publish(HardwareChecked(report=report, verdict=verdict))
            log.info(
                "system check against %s: %s",
                profile.name,
                "meets the minimums" if verdict.meets_minimum else "below the minimums",
            )
            if self._desired.state is DesiredState.OFFLINE:
                self._set_status(NodeStatus.OFFLINE, f"{verdict.headline()}.")
            return verdict

    async def update_settings(self, **changes: Any) -> Settings:
        """Validate and save ``changes`` to the settings, publish them, and re-run the system
        check when they affect it. Prices and limits apply at once, without a restart.

        Returns the saved settings as :attr:`settings` shows them (the RPC address masked).

        Raises:
            SettingsError: a value is invalid (the message names the field); nothing is saved.
        """
        async with self._settings_lock:
            before = self._settings
            self._settings = await asyncio.to_thread(self._store.update, **changes)
            self._settings_seen = await asyncio.to_thread(self._store.fingerprint)
        await self._settings_applied(before)
        return self._settings.public()

    async def update_section(self, section: str, **changes: Any) -> Settings:
        """Change only the given fields of ``pricing``, ``limits`` or ``node`` and apply them
        at once (prices and limits reach the gateway without a restart).

        Raises:
            SettingsError: a value is invalid (the message names ``section.field``); nothing
                is saved.
        """
        async with self._settings_lock:
            before = self._settings
            self._settings = await asyncio.to_thread(self._store.update_section, section, **changes)
            self._settings_seen = await asyncio.to_thread(self._store.fingerprint)
        await self._settings_applied(before)
        return self._settings.public()

    async def _reload_settings(self) -> None:
        """Apply changes another process saved (``fizz-node pricing set`` beside a running
        node): one ``stat()`` a tick; a bad file keeps the current settings and is logged."""
        async with self._settings_lock:
            change = await asyncio.to_thread(self._store.load_if_changed, self._settings_seen)
            if change is None:
                return
            self._settings_seen = change.fingerprint
            if change.settings is None:
                log.warning("the settings file changed but cannot be used: %s", change.error)
                return
            before, self._settings = self._settings, change.settings
        log.info("settings changed on disk: applied")
        await self._settings_applied(before)

    # ---- Settings -----------------------------------------------------------------------

    async def _settings_applied(self, before: Settings) -> None:
        self._snapshot = self._snapshot.evolve(
            network=self._settings.network, profile=self._settings.effective_profile()
        )
        self._bus.publish(SettingsChanged(settings=self._settings.public_dict()))
        affects_check = (
            before.effective_profile() != self._settings.effective_profile()
            or before.storage_dir != self._settings.storage_dir
        )
        if affects_check:
            await self.check_hardware()
        self._announce()

    def policy(self) -> ResourcePolicy:
        """The owner's limits."""
        return self._settings.limits

    def _offer(self) -> Offer | None:
        report = self._snapshot.hardware
        return offer_from_report(report) if report is not None else None

    def price_sheet(self) -> PriceSheet | None:
        """The prices announced to the gateway (from the settings' pricing, market rates by
        default); ``None`` before the first system check."""
        report = self._snapshot.hardware
        if report is None:
            return None
        try:
            return self._settings.price_sheet(report, load_tier_table())
        except PricingError as error:
            log.warning("no prices to announce: %s", error)
            return None

    def _capacity(self) -> Capacity:
        """What leases may use in all: the units announced and priced (the owner's caps, or
        the machine minus a reserve for the owner)."""
        report = self._snapshot.hardware
        if report is None:
            return Capacity(0, 0, 0)
        units = units_offered(self.policy(), report)
        return Capacity(
            cpu_millicores=units.cpu_units * 1000,
            memory_bytes=units.memory_gb * 1024**3,
            storage_bytes=units.storage_gb * 1000**3,
            gpu_units=units.gpu_units,
            gpu_model=units.gpu_model if units.gpu_units else None,
            runtimes=frozenset(Runtime),
        )

    def _capacity_report(self) -> dict[str, Any]:
        report = self._snapshot.hardware
        offer = self._offer()
        if report is None or offer is None:
            raise UserFacingError("The system check has not run yet.")
        capacity = self._capacity()
        offered = Offer(
            cpu_units=capacity.cpu_millicores // 1000,
            memory_gb=capacity.memory_bytes // 1024**3,
            storage_gb=capacity.storage_bytes // 1000**3,
            gpu_model=offer.gpu_model,
            gpu_units=capacity.gpu_units,
            cpu_resource=offer.cpu_resource,
            gpu_index=offer.gpu_index,
        )
        held = self._manager.leases(active_only=True) if self._manager else []
        in_use = Offer(
            cpu_units=-(-sum(lease.cpu_millicores for lease in held) // 1000),
            memory_gb=-(-sum(lease.memory_bytes for lease in held) // 1024**3),
            storage_gb=-(-sum(lease.storage_bytes for lease in held) // 1000**3),
            gpu_model=offer.gpu_model,
            gpu_units=sum(lease.gpu_units for lease in held),
            cpu_resource=offer.cpu_resource,
        )
        measured = load_measurement(self._data_dir)
        report = dataclasses.replace(report, bandwidth=measured)
        return capacity_report(
            offered, report, client_version=__version__, protocol_version="1", in_use=in_use
        )

    def _announce(self) -> None:
        """Send prices and capacity to the gateway (after a login or a change)."""
        sheet = self.price_sheet()
        fields = sheet.prices_fields() if sheet is not None else None
        self._snapshot = self._snapshot.evolve(prices=fields)
        link = self._link
        if link is None or not link.state.connected:
            return
        if fields is not None:
            link.send_prices(fields)
        link.report_capacity()

    # ---- Leases -------------------------------------------------------------------------

    async def _open_leases(self) -> None:
        store = await asyncio.to_thread(LeaseStore, self._data_dir / "leases" / "leases.db")
        runners = await asyncio.to_thread(self._runner_factory, self._desired.instance_id)
        desk_holder: list[GatewayDesk] = []
        loop = asyncio.get_running_loop()

        def changed(lease: Lease) -> None:
            if desk_holder:
                desk_holder[0].lease_changed(lease)
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._lease_changed, lease)

        self._manager = LeaseManager(store, runners, offered=self._capacity, on_change=changed)
        self._desk = GatewayDesk(
            self._manager,
            refusal=self._refusal,
            ask_per_block=self._ask,
            on_earned=self._earned,
            clock=self._clock,
            on_connected=lambda fizz_id: self._announce(),
        )
        desk_holder.append(self._desk)
        report = await asyncio.to_thread(self._manager.recover)
        if report.adopted or report.lost or report.orphans_removed:
            log.info(
                "leases after restart: %d re-adopted, %d lost, %d orphans removed",
                len(report.adopted),
                len(report.lost),
                len(report.orphans_removed),
            )
        self._refresh_leases()

    def _lease_changed(self, lease: Lease) -> None:
        self._bus.publish(LeaseChanged(lease=lease.to_dict()))
        self._refresh_leases()
        self._wake_ticker()

    def _refresh_leases(self) -> None:
        if self._manager is not None:
            leases = self._manager.leases()[:50]
            self._snapshot = self._snapshot.evolve(
                leases=tuple(lease.to_dict() for lease in leases)
            )

    def _ask(self, job: JobManifest) -> Decimal | None:
        return ask_per_block(self.price_sheet(), job)

    def _refusal(self) -> str | None:
        """Why the node takes no new lease now, or ``None``."""
        desired = self._desired.effective(self._clock())
        if desired is DesiredState.OFFLINE:
            return "the node is going offline"
        if desired is DesiredState.PAUSED:
            return "the node's owner paused it"
        decision = self._decision
        if decision is not None and not decision.accepting:
            return decision.reason
        return None

    # ---- Housekeeping -------------------------------------------------------------------

    async def _tick_forever(self) -> None:
        while True:
            try:
                await self._tick_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # keep ticking: one bad round must not stop the engine
                log.exception("engine housekeeping failed")
            self._tick_wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._tick_wake.wait(), self._tick_interval())

    def _tick_interval(self) -> float:
        """Busy (a lease active, going online, a speed test): every ``tick``; a settled node
        (online, paused or offline, nothing running): five times less often, so it costs next
        to nothing (benchmarks)."""
        busy = (
            any(lease["state"] not in ("closed", "failed") for lease in self._snapshot.leases)
            or self._snapshot.status in (NodeStatus.STARTING, NodeStatus.CONNECTING)
            or self._bandwidth_task is not None
            and not self._bandwidth_task.done()
        )
        return self._tick if busy else self._tick * _IDLE_TICK_FACTOR

    def _wake_ticker(self) -> None:
        """Run the next housekeeping round now (after an intent or a lease change)."""
        self._tick_wake.set()

    async def _tick_once(self) -> None:
        now = self._clock()
        if self._desired.state is DesiredState.PAUSED and self._desired.effective(now) is (
            DesiredState.ONLINE
        ):
            await self._set_desired(DesiredState.ONLINE, None)
        await self._reload_settings()
        if self._manager is not None:
            await asyncio.to_thread(self._manager.poll)
            self._free = await asyncio.to_thread(self._manager.free_capacity)
        if now - self._facts_at >= _FACTS_EVERY_S:
            self._facts_at = now
            wants_programs = bool(self.policy().pause_programs)
            self._facts = await asyncio.to_thread(
                functools.partial(
                    self._facts_probe, self._gpu_temperature(), processes=wants_programs
                )
            )
        previous = self._decision
        self._decision = evaluate(self.policy(), self._facts, datetime.now(), previous)
        if previous is not None and previous.accepting != self._decision.accepting:
            log.info("policy: %s", self._decision.reason)
            self._announce()
        await self._apply_pause_to_running(now)
        connected = self._link is not None and self._link.state.connected
        if connected and self._online_since is None:
            self._online_since = now
        elif not connected and self._online_since is not None:
            if self._ledger is not None:  # close this online interval
                await asyncio.to_thread(self._ledger.record_online, self._online_since, now)
            self._online_since = None
        if self._desk is not None and now - self._usage_at >= _USAGE_EVERY_S:
            self._usage_at = now
            self._desk.report_usage()
            await self._book_running(now)
        self._maybe_measure_bandwidth()
        self._update_status()

    def _gpu_temperature(self) -> float | None:
        """The offered GPU's temperature now (NVML), ``None`` without one."""
        offer = self._offer()
        if offer is None or offer.gpu_index is None or not self.policy().gpu:
            return None
        return gpu_temperature(offer.gpu_index)

    async def _apply_pause_to_running(self, now: float) -> None:
        """While paused (by the owner or a rule) with ``on_pause="stop"``: warn the gateway,
        then after the notice close the running leases. ``finish`` lets them run."""
        policy = self.policy()
        decision = self._decision
        user_paused = self._desired.effective(now) is DesiredState.PAUSED
        policy_paused = decision is not None and not decision.accepting
        if not (user_paused or policy_paused) or policy.on_pause != "stop":
            self._stop_noticed_at = None
            return
        manager, desk = self._manager, self._desk
        if manager is None or desk is None:
            return
        running = [lease for lease in manager.leases(active_only=True) if lease.active]
        if not running:
            self._stop_noticed_at = None
            return
        why = "paused by the owner" if user_paused else (decision.reason if decision else "")
        if self._stop_noticed_at is None:
            self._stop_noticed_at = now
            log.info("stopping %d lease(s) in %d s: %s", len(running), policy.stop_notice_s, why)
            desk.notify_stopping(why, policy.stop_notice_s)
        elif now - self._stop_noticed_at >= policy.stop_notice_s:
            for lease in running:
                await asyncio.to_thread(manager.close, lease.lease_id)

    def _maybe_measure_bandwidth(self) -> None:
        link = self._link
        if link is None or not link.state.connected or self._bandwidth_task is not None:
            return
        measured = load_measurement(self._data_dir)
        if measured.measured and not measured.stale:
            return

        async def measure() -> None:
            try:
                info = await link.measure_bandwidth()
                await asyncio.to_thread(save_measurement, self._data_dir, info)
                await self.check_hardware()
                link.report_capacity()
            except UserFacingError as error:
                log.info("speed test: %s", error)

        self._bandwidth_task = asyncio.create_task(measure(), name="speed-test")

    # ---- Status -------------------------------------------------------------------------

    async def _set_desired(self, state: DesiredState, until: float | None) -> None:
        self._desired = await asyncio.to_thread(
            self._desired_store.update, self._desired, state=state, paused_until=until
        )
        self._snapshot = self._snapshot.evolve(desired=state, paused_until=until)
        self._bus.publish(DesiredStateChanged(desired=state))
        self._update_status()
        self._wake_ticker()

    def _update_status(self) -> None:
        link = self._link
        state = link.state if link is not None else None
        desired = self._desired.effective(self._clock())
        decision = self._decision
        connected = bool(state and state.connected)
        if connected:
            self._pin_error = None
        error = self._error or self._pin_error
        if link is not None and state is not None:
            gateway: dict[str, Any] | None = {
                "provider_id": link.provider_id,
                "url": link.url,
                "connected": state.connected,
                "fizz_id": state.fizz_id,
                "rtt_ms": None if state.last_rtt is None else round(state.last_rtt * 1000, 1),
                "last_close": state.last_close,
            }
        else:
            gateway = None
        until = self._desired.paused_until
        facts = NodeFacts(
            desired=desired,
            paused_until_text=(
                f"until {datetime.fromtimestamp(until):%a %H:%M}" if until is not None else None
            ),
            has_wallet=self._error is None or "no wallet" not in self._error,
            registered=self._registered,
            error=error,
            connected=connected,
            policy_reason=None if decision is None or decision.accepting else decision.reason,
            runtimes_available=self._free is None or bool(self._free.runtimes),
            container_engine=self._free is None or Runtime.CONTAINER in self._free.runtimes,
            free_cpu_millicores=1 if self._free is None else self._free.cpu_millicores,
            market_refusal=self._market_refusal(),
            leases_running=sum(1 for lease in self._snapshot.leases if lease["state"] == "running"),
        )
        reason, blocking = diagnose(facts)
        changed = (reason, not blocking) != (
            self._snapshot.why_no_jobs,
            self._snapshot.accepting,
        )
        self._snapshot = self._snapshot.evolve(
            accepting=not blocking, why_no_jobs=reason, gateway=gateway
        )
        if changed:  # front ends redraw on events: the status alone may not have moved
            self._bus.publish(DiagnosisChanged(why_no_jobs=reason, accepting=not blocking))
        if desired is DesiredState.OFFLINE:
            verdict = self._snapshot.verdict
            self._set_status(NodeStatus.OFFLINE, f"{verdict.headline()}." if verdict else "Stopped")
        elif error:
            self._set_status(NodeStatus.ERROR, error)
        elif not connected:
            self._set_status(NodeStatus.CONNECTING, "Connecting to the gateway")
        elif blocking:
            self._set_status(NodeStatus.PAUSED, reason)
        else:
            self._set_status(NodeStatus.ONLINE, "Taking leases")

    def _market_refusal(self) -> str | None:
        refusal = self._desk.market_refusal if self._desk is not None else None
        if refusal is None or self._clock() - refusal[1] > _MARKET_MEMORY_S:
            return None
        return refusal[0]

    def _set_status(self, status: NodeStatus, reason: str) -> None:
        if (status, reason) == (self._snapshot.status, self._snapshot.status_reason):
            return
        self._snapshot = self._snapshot.evolve(status=status, status_reason=reason)
        self._bus.publish(StatusChanged(status=status, reason=reason))
