"""Tests for fizz_app.core.events: event serialisation and the non-blocking, numbered EventBus."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fizz_app.core.checks import Verdict
from fizz_app.core.events import (
    ChainChanged,
    DesiredStateChanged,
    DiagnosisChanged,
    EarningsChanged,
    Event,
    EventBus,
    HardwareChecked,
    LeaseChanged,
    SettingsChanged,
    StatusChanged,
    event_from_dict,
)
from fizz_app.core.report import HardwareReport
from fizz_app.core.state import DesiredState, NodeStatus


def every_event(report: HardwareReport, verdict: Verdict) -> list[Event]:
    """One instance of every event type, numbered and stamped as the bus would."""
    return [
        HardwareChecked(seq=7, at=1_700_000_000.25, report=report, verdict=verdict),
        StatusChanged(seq=8, at=1_700_000_001.5, status=NodeStatus.ERROR, reason="Wallet locked."),
        DesiredStateChanged(seq=9, at=1_700_000_002.0, desired=DesiredState.PAUSED),
        SettingsChanged(
            seq=10,
            at=1_700_000_003.0,
            settings={
                "network": "devnet",
                "cpu": {"threads": 6, "share": 0.5},
                "schedule": [{"from": "22:00", "to": "07:00"}],
                "storage_dir": None,
                "paused_on_battery": True,
            },
        ),
        LeaseChanged(
            seq=11,
            at=1_700_000_004.0,
            lease={"lease_id": "42", "state": "running", "ports": {"8080": 40123}},
        ),
        EarningsChanged(
            seq=12,
            at=1_700_000_005.0,
            earnings={"lifetime": {"uSPON": {"decimals": 6, "lease_earnings": "15000000"}}},
        ),
        DiagnosisChanged(seq=13, at=1_700_000_006.0, why_no_jobs="Paused by you.", accepting=False),
        ChainChanged(
            seq=14,
            at=1_700_000_007.0,
            chain={
                "reachable": False,
                "checked_at": 1_700_000_006.5,
                "unreachable_since": 1_700_000_006.5,
                "error": "The Local devnet RPC endpoint http://127.0.0.1:8545 did not answer "
                "within 15 s. Check that it is up.",
                "rpc": "http://127.0.0.1:8545",
                "next_check_at": 1_700_000_012.0,
            },
        ),
        ChainChanged(seq=15, at=1_700_000_008.0, chain=None),
    ]


def counter_clock(start: float = 1000.0, step: float = 0.5) -> Callable[[], float]:
    """A deterministic clock: start, start + step, start + 2 * step, ..."""
    ticks: Iterator[float] = (start + step * n for n in range(1_000_000))
    return lambda: next(ticks)


# ---- Serialisation ------------------------------------------------------------------------------


def test_every_event_type_is_covered(
    sample_report: HardwareReport, sample_verdict: Verdict
) -> None:
    covered = {type(event) for event in every_event(sample_report, sample_verdict)}
    assert covered == set(Event.__subclasses__())


def test_every_event_round_trips_through_json(
    sample_report: HardwareReport, sample_verdict: Verdict
) -> None:
    for event in every_event(sample_report, sample_verdict):
        data = json.loads(json.dumps(event.to_dict()))
        assert data["type"] == type(event).type
        assert (data["seq"], data["at"]) == (event.seq, event.at)
        restored = event_from_dict(data)
        assert type(restored) is type(event)
        assert restored == event


def test_event_dicts_use_plain_values() -> None:
    data = StatusChanged(status=NodeStatus.ONLINE, reason="Connected.").to_dict()
    assert data == {
        "type": "status_changed",
        "seq": 0,
        "at": 0.0,
        "status": "online",
        "reason": "Connected.",
    }
    assert type(data["status"]) is str
    assert DesiredStateChanged(desired=DesiredState.OFFLINE).to_dict()["desired"] == "offline"


def test_hardware_checked_nests_report_and_verdict_dicts(
    sample_report: HardwareReport, sample_verdict: Verdict
) -> None:
    data = HardwareChecked(report=sample_report, verdict=sample_verdict).to_dict()
    assert data["report"] == sample_report.to_dict()
    assert data["verdict"] == sample_verdict.to_dict()
    restored = event_from_dict(json.loads(json.dumps(data)))
    assert isinstance(restored, HardwareChecked)
    assert isinstance(restored.report, HardwareReport)
    assert restored.report.gpu.gpus[1].temperature_c is None
    assert restored.verdict.meets_minimum is sample_verdict.meets_minimum


def test_status_changed_reason_defaults_to_empty() -> None:
    restored = event_from_dict({"type": "status_changed", "status": "offline"})
    assert restored == StatusChanged(status=NodeStatus.OFFLINE)


@pytest.mark.parametrize(
    "data",
    [{"type": "lease_won", "seq": 1}, {"seq": 1}, {"type": None}, {"type": "event"}],
    ids=["unknown", "missing", "none", "base-class"],
)
def test_unknown_event_type_raises_value_error(data: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="unknown event type"):
        event_from_dict(data)


def test_missing_field_raises_value_error() -> None:
    with pytest.raises(ValueError, match="bad desired_state_changed event"):
        event_from_dict({"type": "desired_state_changed", "seq": 3, "at": 1.0})


def test_bad_enum_value_raises_value_error() -> None:
    with pytest.raises(ValueError):
        event_from_dict({"type": "status_changed", "status": "dancing"})


def test_non_json_field_is_refused() -> None:
    event = SettingsChanged(settings={"folders": {"/a", "/b"}})
    with pytest.raises(TypeError, match="set"):
        event.to_dict()


def test_events_are_frozen(sample_report: HardwareReport, sample_verdict: Verdict) -> None:
    for event in every_event(sample_report, sample_verdict):
        with pytest.raises(dataclasses.FrozenInstanceError):
            event.seq = 99  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        StatusChanged(status=NodeStatus.ONLINE).status = NodeStatus.ERROR  # type: ignore[misc]


def test_event_fields_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        StatusChanged(1, 2.0, NodeStatus.ONLINE)  # type: ignore[call-arg]


# ---- Bus ----------------------------------------------------------------------------------------


def test_bus_numbers_events_and_stamps_them_from_the_clock() -> None:
    bus = EventBus(clock=counter_clock(1000.0, 0.5))
    assert bus.last_seq == 0
    original = StatusChanged(status=NodeStatus.STARTING)
    first = bus.publish(original)
    published: list[Event] = [
        first,
        bus.publish(DesiredStateChanged(desired=DesiredState.ONLINE)),
        bus.publish(StatusChanged(status=NodeStatus.ONLINE, reason="Connected.")),
    ]
    assert [event.seq for event in published] == [1, 2, 3]
    assert [event.at for event in published] == [1000.0, 1000.5, 1001.0]
    assert bus.last_seq == 3
    assert first.status is NodeStatus.STARTING
    assert (original.seq, original.at) == (0, 0.0), "the caller's event is not changed"


def test_bus_default_clock_is_wall_time() -> None:
    bus = EventBus()
    before = time.time()
    event = bus.publish(StatusChanged(status=NodeStatus.ONLINE))
    after = time.time()
    assert before <= event.at <= after


async def test_two_subscribers_both_receive_every_event() -> None:
    bus = EventBus(clock=counter_clock())
    first, second = bus.subscribe(), bus.subscribe()
    sent = [
        bus.publish(StatusChanged(status=NodeStatus.CONNECTING)),
        bus.publish(StatusChanged(status=NodeStatus.ONLINE)),
    ]
    assert [await first.get(), await first.get()] == sent
    assert [await second.get(), await second.get()] == sent
    assert first.dropped == second.dropped == 0


async def test_subscriber_only_sees_events_published_after_subscribing() -> None:
    bus = EventBus(clock=counter_clock())
    bus.publish(StatusChanged(status=NodeStatus.STARTING))
    late = bus.subscribe()
    bus.publish(StatusChanged(status=NodeStatus.OFFLINE))
    event = await late.get()
    assert event.seq == 2


async def test_slow_subscriber_drops_events_and_sees_a_gap() -> None:
    bus = EventBus(queue_size=2, clock=counter_clock())
    slow = bus.subscribe()
    fast = bus.subscribe()
    fast_seen: list[int] = []
    for n in range(5):
        event = bus.publish(StatusChanged(status=NodeStatus.ONLINE, reason=f"tick {n}"))
        assert event.seq == n + 1  # publish returned at once although ``slow`` was full
        fast_seen.append((await fast.get()).seq)
    assert fast_seen == [1, 2, 3, 4, 5]
    assert fast.dropped == 0
    assert slow.dropped == 3

    drained = [(await slow.get()).seq, (await slow.get()).seq]
    assert drained == [1, 2]
    bus.publish(StatusChanged(status=NodeStatus.PAUSED))
    after_gap = await slow.get()
    assert after_gap.seq == 6
    assert after_gap.seq - drained[-1] > 1, "the subscriber can tell it missed events"
    assert slow.dropped == 3


async def test_closed_subscription_receives_nothing_more() -> None:
    bus = EventBus(clock=counter_clock())
    sub = bus.subscribe()
    other = bus.subscribe()
    bus.publish(StatusChanged(status=NodeStatus.ONLINE))
    sub.close()
    sub.close()  # closing twice is harmless
    bus.publish(StatusChanged(status=NodeStatus.OFFLINE))
    assert (await sub.get()).seq == 1, "what was queued before closing is still readable"
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(sub.get(), timeout=0.05)
    assert [(await other.get()).seq, (await other.get()).seq] == [1, 2]
    assert sub.dropped == 0


async def test_async_with_closes_and_async_for_iterates() -> None:
    bus = EventBus(clock=counter_clock())
    seen: list[int] = []
    async with bus.subscribe() as sub:
        for status in (NodeStatus.CONNECTING, NodeStatus.ONLINE, NodeStatus.PAUSED):
            bus.publish(StatusChanged(status=status))
        async for event in sub:
            seen.append(event.seq)
            if len(seen) == 3:
                break
    assert seen == [1, 2, 3]
    bus.publish(StatusChanged(status=NodeStatus.OFFLINE))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(sub.get(), timeout=0.05)
