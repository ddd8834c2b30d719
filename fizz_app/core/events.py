"""Typed, numbered events from the core to its front ends, and the bus that carries them.

Events are immutable, past-tense dataclasses that serialise to JSON with :meth:`Event.to_dict`
and back with :func:`event_from_dict`. The :class:`EventBus` numbers them 1, 2, 3, ... and never
blocks the core on a slow subscriber: when a subscriber's queue is full its events are dropped,
and the subscriber sees a gap in ``seq`` and re-reads the snapshot (Syncthing's event model).
Stdlib only.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from .checks import Verdict
from .report import HardwareReport
from .state import DesiredState, NodeStatus

__all__ = [
    "Event",
    "HardwareChecked",
    "StatusChanged",
    "DesiredStateChanged",
    "SettingsChanged",
    "LeaseChanged",
    "EarningsChanged",
    "DiagnosisChanged",
    "ChainChanged",
    "event_from_dict",
    "EventBus",
    "Subscription",
]

E = TypeVar("E", bound="Event")

_EVENT_TYPES: dict[str, type[Event]] = {}


def _register(cls: type[E]) -> type[E]:
    _EVENT_TYPES[cls.type] = cls
    return cls


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of all events. ``seq`` and ``at`` are filled in by :meth:`EventBus.publish`."""

    type: ClassVar[str] = "event"
    seq: int = 0
    at: float = 0.0
    """Unix time the event was published."""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict with the event's ``type`` name."""
        data: dict[str, Any] = {"type": self.type}
        for item in dataclasses.fields(self):
            data[item.name] = _to_jsonable(getattr(self, item.name))
        return data


def _to_jsonable(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, tuple | list):
        return [_to_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(k): _to_jsonable(v) for k, v in value.items()}
    raise TypeError(f"event field of type {type(value).__name__} is not JSON-serialisable")


@_register
@dataclass(frozen=True, kw_only=True)
class HardwareChecked(Event):
    """The system check ran (at start-up, or because the user asked)."""

    type: ClassVar[str] = "hardware_checked"
    report: HardwareReport
    verdict: Verdict


@_register
@dataclass(frozen=True, kw_only=True)
class StatusChanged(Event):
    """The node's status changed; ``reason`` says why in plain words."""

    type: ClassVar[str] = "status_changed"
    status: NodeStatus
    reason: str = ""


@_register
@dataclass(frozen=True, kw_only=True)
class DesiredStateChanged(Event):
    """The user asked for a different state (start, pause, stop)."""

    type: ClassVar[str] = "desired_state_changed"
    desired: DesiredState


@_register
@dataclass(frozen=True, kw_only=True)
class SettingsChanged(Event):
    """Settings were saved; ``settings`` is their JSON form as front ends may show it
    (:meth:`~fizz_app.core.config.Settings.public_dict`: a custom RPC address's keys
    masked)."""

    type: ClassVar[str] = "settings_changed"
    settings: dict[str, Any]


_DECODERS: dict[Any, Callable[[Any], Any]] = {
    HardwareReport: HardwareReport.from_dict,
    Verdict: Verdict.from_dict,
    NodeStatus: NodeStatus,
    DesiredState: DesiredState,
}


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event from :meth:`Event.to_dict` output.

    Raises:
        ValueError: unknown event type or missing fields.
    """
    cls = _EVENT_TYPES.get(str(data.get("type")))
    if cls is None:
        raise ValueError(f"unknown event type {data.get('type')!r}")
    hints = {name: hint for name, hint in _field_types(cls).items()}
    kwargs: dict[str, Any] = {}
    for item in dataclasses.fields(cls):
        if item.name not in data:
            continue
        decoder = _DECODERS.get(hints.get(item.name))
        kwargs[item.name] = decoder(data[item.name]) if decoder else data[item.name]
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise ValueError(f"bad {cls.type} event: {error}") from None


def _field_types(cls: type[Event]) -> dict[str, Any]:
    import typing

    return typing.get_type_hints(cls)


@_register
@dataclass(frozen=True, kw_only=True)
class LeaseChanged(Event):
    """A lease moved (``lease`` is :meth:`fizz_app.core.jobs.lease_store.Lease.to_dict`)."""

    type: ClassVar[str] = "lease_changed"
    lease: dict[str, Any]


@_register
@dataclass(frozen=True, kw_only=True)
class EarningsChanged(Event):
    """The earnings ledger or the chain's rewards changed (``earnings`` is the snapshot's)."""

    type: ClassVar[str] = "earnings_changed"
    earnings: dict[str, Any]


@_register
@dataclass(frozen=True, kw_only=True)
class DiagnosisChanged(Event):
    """The answer to "why no jobs?" changed (``why_no_jobs`` is "" when leases can come)."""

    type: ClassVar[str] = "diagnosis_changed"
    why_no_jobs: str
    accepting: bool


@_register
@dataclass(frozen=True, kw_only=True)
class ChainChanged(Event):
    """The chain's RPC endpoint stopped or started answering, or why it fails changed
    (``chain`` is the snapshot's: ``reachable``, ``error``, ``rpc``, ``unreachable_since``...;
    ``None`` once the node is no longer online). Not published for every successful check:
    the snapshot's ``chain`` has the latest ``checked_at``."""

    type: ClassVar[str] = "chain_changed"
    chain: dict[str, Any] | None


# ---- Bus ----------------------------------------------------------------------------------------


class Subscription:
    """One subscriber's bounded queue of events. Iterate it with ``async for``; ``close()`` it
    (or leave the ``async with`` block) when done."""

    def __init__(self, bus: EventBus, maxsize: int) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self.dropped = 0
        """How many events were dropped because this subscriber fell behind."""

    def _offer(self, event: Event) -> None:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1

    async def get(self) -> Event:
        """Wait for the next event."""
        return await self._queue.get()

    def drain(self) -> list[Event]:
        """Return the events already queued, oldest first, without waiting."""
        drained: list[Event] = []
        while not self._queue.empty():
            drained.append(self._queue.get_nowait())
        return drained

    def close(self) -> None:
        self._bus._subscribers.discard(self)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        return await self.get()


class EventBus:
    """Numbers events and hands them to every subscriber without ever blocking the publisher.

    Use it from the event loop's thread only.
    """

    def __init__(self, *, queue_size: int = 256, clock: Callable[[], float] = time.time) -> None:
        self._queue_size = queue_size
        self._clock = clock
        self._seq = 0
        self._subscribers: set[Subscription] = set()

    @property
    def last_seq(self) -> int:
        """Number of the last event published (0 before the first)."""
        return self._seq

    def publish(self, event: E) -> E:
        """Number and timestamp ``event``, deliver it to every subscriber, and return it."""
        self._seq += 1
        numbered = dataclasses.replace(event, seq=self._seq, at=self._clock())
        for subscriber in list(self._subscribers):
            subscriber._offer(numbered)
        return numbered

    def subscribe(self) -> Subscription:
        """Return a new subscription; it receives events published from now on."""
        subscription = Subscription(self, self._queue_size)
        self._subscribers.add(subscription)
        return subscription
