"""The resource policy: validation, the schedule (property-tested), rule order, hysteresis."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from fizz_app.core.jobs.manifest import Capacity
from fizz_app.core.offer import GB, GIB, Offer
from fizz_app.core.policy import (
    DAYS,
    PolicyDecision,
    PolicyError,
    PolicyFacts,
    ResourcePolicy,
    Rule,
    ScheduleWindow,
    caps_to_capacity,
    evaluate,
    format_duration,
    in_schedule,
    load_policy,
    next_schedule_start,
    schedule_end,
)

MONDAY_9 = datetime(2025, 7, 7, 9, 0)  # a Monday
IDLE = PolicyFacts(
    idle_seconds=3600,
    on_battery=False,
    running_processes=frozenset(),
    fullscreen=False,
    gpu_temp_c=50,
)
WORK_HOURS = (ScheduleWindow(days=("mon", "tue", "wed", "thu", "fri"), start="08:00", end="18:00"),)


def window(days: tuple[str, ...], start: str, end: str) -> ScheduleWindow:
    return ScheduleWindow.model_validate({"days": days, "start": start, "end": end})


# ---- Validation --------------------------------------------------------------------------------


def test_defaults_follow_the_peers() -> None:
    policy = ResourcePolicy()
    assert policy.idle_only and policy.idle_minutes == 3 and policy.pause_on_battery
    assert policy.on_pause == "finish" and policy.schedule == ()


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"cpu_threads": -1}, "cpu_threads"),
        ({"memory_gb": "lots"}, "memory_gb"),
        ({"idle_minutes": 0}, "idle_minutes"),
        ({"max_gpu_temp_c": 500}, "max_gpu_temp_c"),
        ({"on_pause": "kill"}, "on_pause"),
        ({"pause_programs": ["ok", "/usr/bin/steam"]}, "pause_programs"),
        ({"schedule": [{"days": ["mon"], "start": "8:00", "end": "18:00"}]}, "schedule.0.start"),
        ({"schedule": [{"days": ["mon"], "start": "08:00", "end": "25:00"}]}, "schedule.0.end"),
        (
            {"schedule": [{"days": ["monday"], "start": "08:00", "end": "18:00"}]},
            "schedule.0.days.0",
        ),
        ({"schedule": [{"days": [], "start": "08:00", "end": "18:00"}]}, "schedule.0.days"),
        ({"idel_minutes": 3}, "idel_minutes"),
    ],
)
def test_bad_settings_are_refused_with_the_field_named(raw: dict[str, object], field: str) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(raw)
    assert caught.value.field == field
    assert field in caught.value.message and caught.value.remedy


def test_policy_is_frozen_and_days_are_normalised() -> None:
    policy = load_policy(
        {"schedule": [{"days": ["fri", "mon", "fri"], "start": "08:00", "end": "24:00"}]}
    )
    assert policy.schedule[0].days == ("mon", "fri")
    with pytest.raises(ValidationError):
        policy.idle_minutes = 5


# ---- Schedule ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "inside"),
    [
        (datetime(2025, 7, 11, 21, 59), False),  # Fri before the window
        (datetime(2025, 7, 11, 22, 0), True),
        (datetime(2025, 7, 12, 5, 59), True),  # Sat morning: still Friday's window
        (datetime(2025, 7, 12, 6, 0), False),
        (datetime(2025, 7, 12, 23, 0), False),  # Sat night: not listed
    ],
)
def test_windows_cross_midnight(when: datetime, inside: bool) -> None:
    assert in_schedule((window(("fri",), "22:00", "06:00"),), when) is inside


def test_equal_start_and_end_mean_a_whole_day() -> None:
    whole = (window(("sun",), "00:00", "00:00"),)
    assert in_schedule(whole, datetime(2025, 7, 13, 23, 59))
    assert not in_schedule(whole, datetime(2025, 7, 14, 0, 0))


def test_next_start_and_end_of_adjacent_windows() -> None:
    chained = (window(("mon",), "08:00", "12:00"), window(("mon",), "12:00", "14:00"))
    assert schedule_end(chained, MONDAY_9) == datetime(2025, 7, 7, 14, 0)
    assert next_schedule_start(chained, datetime(2025, 7, 7, 15, 0)) == datetime(2025, 7, 14, 8, 0)
    always = (window(DAYS, "00:00", "00:00"),)
    assert schedule_end(always, MONDAY_9) is None


windows = st.lists(
    st.builds(
        window,
        st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True).map(tuple),
        st.times().map(lambda t: f"{t.hour:02d}:{t.minute:02d}"),
        st.times().map(lambda t: f"{t.hour:02d}:{t.minute:02d}"),
    ),
    min_size=1,
    max_size=4,
).map(tuple)
moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)).map(
    lambda d: d.replace(second=0, microsecond=0)
)


def brute_force(windows: tuple[ScheduleWindow, ...], when: datetime) -> bool:
    # Walk back over the last 2 days of starts: is ``when`` before one of them ends?
    for back in range(0, 2 * 24 * 60 + 1):
        start = when - timedelta(minutes=back)
        for w in windows:
            if (
                DAYS[start.weekday()] in w.days
                and start.hour * 60 + start.minute == w.start_minute()
            ):
                if when < start + w.length():
                    return True
    return False


@settings(max_examples=60, deadline=None)
@given(windows, moments)
def test_schedule_agrees_with_brute_force(
    windows: tuple[ScheduleWindow, ...], when: datetime
) -> None:
    assert in_schedule(windows, when) == brute_force(windows, when)


@settings(max_examples=200, deadline=None)
@given(windows, moments)
def test_next_start_and_end_are_consistent(
    windows: tuple[ScheduleWindow, ...], when: datetime
) -> None:
    start = next_schedule_start(windows, when)
    assert start is not None and when < start <= when + timedelta(days=7)
    assert in_schedule(windows, start)
    if not in_schedule(windows, when):
        # Nothing between now and the next start is inside (checked at every window edge).
        assert not in_schedule(windows, start - timedelta(minutes=1))
        end = None
    else:
        end = schedule_end(windows, when)
    if end is not None:
        assert end > when and not in_schedule(windows, end)
        assert in_schedule(windows, end - timedelta(minutes=1))


# ---- Decision rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "facts", "when", "rule", "reason"),
    [
        ({}, IDLE, MONDAY_9, None, "Accepting new leases"),
        (
            {"schedule": WORK_HOURS},
            IDLE,
            datetime(2025, 7, 5, 12),
            Rule.SCHEDULE,
            "Paused by schedule until Mon 08:00",
        ),
        ({}, replace(IDLE, on_battery=True), MONDAY_9, Rule.BATTERY, "Paused: on battery power"),
        (
            {"pause_on_battery": False},
            replace(IDLE, on_battery=True),
            MONDAY_9,
            None,
            "Accepting new leases",
        ),
        (
            {},
            replace(IDLE, gpu_temp_c=90),
            MONDAY_9,
            Rule.GPU_TEMPERATURE,
            "Paused: GPU at 90 °C (limit 85 °C)",
        ),
        ({"gpu": False}, replace(IDLE, gpu_temp_c=90), MONDAY_9, None, "Accepting new leases"),
        (
            {"pause_programs": ("Steam",)},
            replace(IDLE, running_processes=frozenset({"steam.exe"})),
            MONDAY_9,
            Rule.PROGRAM,
            "Paused while Steam is running",
        ),
        (
            {},
            replace(IDLE, fullscreen=True),
            MONDAY_9,
            Rule.FULLSCREEN,
            "Paused: a fullscreen app is running",
        ),
        (
            {},
            replace(IDLE, idle_seconds=45),
            MONDAY_9,
            Rule.IDLE,
            "Waiting until the computer has been idle 3 min (idle 45 s)",
        ),
        (
            {"idle_only": False},
            replace(IDLE, idle_seconds=0),
            MONDAY_9,
            None,
            "Accepting new leases",
        ),
        (
            {},
            replace(IDLE, idle_seconds=None),
            MONDAY_9,
            Rule.IDLE_UNKNOWN,
            "does not report how long",
        ),
        ({"if_idle_unknown": "run"}, replace(IDLE, idle_seconds=None), MONDAY_9, None, "Accepting"),
        ({}, PolicyFacts(idle_seconds=999), MONDAY_9, None, "Accepting"),  # unknowns don't block
    ],
)
def test_each_rule(
    policy: dict[str, object], facts: PolicyFacts, when: datetime, rule: Rule | None, reason: str
) -> None:
    decision = evaluate(load_policy(policy), facts, when)
    assert decision.rule is rule and decision.accepting is (rule is None)
    assert reason in decision.reason


def test_rules_are_reported_in_order() -> None:
    policy = ResourcePolicy(schedule=WORK_HOURS, pause_programs=("blender",))
    facts = PolicyFacts(
        idle_seconds=10,
        on_battery=True,
        running_processes=frozenset({"blender"}),
        fullscreen=True,
        gpu_temp_c=99,
    )
    decision = evaluate(policy, facts, datetime(2025, 7, 5, 12))
    order = [
        Rule.SCHEDULE,
        Rule.BATTERY,
        Rule.GPU_TEMPERATURE,
        Rule.PROGRAM,
        Rule.FULLSCREEN,
        Rule.IDLE,
    ]
    assert list(decision.blocking) == order
    # Clearing the first rule makes the next one first.
    for index, rule in enumerate(order):
        assert decision.rule is rule
        facts, policy = _clear(rule, facts, policy)
        decision = evaluate(policy, facts, datetime(2025, 7, 5, 12))
        assert list(decision.blocking) == order[index + 1 :]


def _clear(
    rule: Rule, facts: PolicyFacts, policy: ResourcePolicy
) -> tuple[PolicyFacts, ResourcePolicy]:
    if rule is Rule.SCHEDULE:
        return facts, policy.model_copy(update={"schedule": ()})
    changes = {
        Rule.BATTERY: {"on_battery": False},
        Rule.GPU_TEMPERATURE: {"gpu_temp_c": 40},
        Rule.PROGRAM: {"running_processes": frozenset()},
        Rule.FULLSCREEN: {"fullscreen": False},
        Rule.IDLE: {"idle_seconds": 600},
    }[rule]
    return replace(facts, **changes), policy  # type: ignore[arg-type]


def test_next_change_lets_the_engine_sleep() -> None:
    policy = ResourcePolicy(schedule=WORK_HOURS)
    waiting = evaluate(policy, replace(IDLE, idle_seconds=45), MONDAY_9)
    assert waiting.next_change == MONDAY_9 + timedelta(seconds=135)
    accepting = evaluate(policy, IDLE, MONDAY_9)
    assert accepting.next_change == datetime(2025, 7, 7, 18, 0)
    weekend = evaluate(policy, IDLE, datetime(2025, 7, 5, 12))
    assert weekend.next_change == datetime(2025, 7, 7, 8, 0)
    assert evaluate(ResourcePolicy(), replace(IDLE, on_battery=True), MONDAY_9).next_change is None
    # Paused by the battery (no end in sight) while the schedule window still closes at 18:00.
    battery = evaluate(policy, replace(IDLE, on_battery=True), MONDAY_9)
    assert battery.rule is Rule.BATTERY and battery.next_change == datetime(2025, 7, 7, 18, 0)
    both = evaluate(ResourcePolicy(), replace(IDLE, on_battery=True, idle_seconds=170), MONDAY_9)
    assert both.rule is Rule.BATTERY and both.next_change == MONDAY_9 + timedelta(seconds=10)


def test_running_leases_follow_on_pause() -> None:
    paused = replace(IDLE, on_battery=True)
    assert evaluate(ResourcePolicy(), IDLE, MONDAY_9).running_leases == "keep"
    assert evaluate(ResourcePolicy(), paused, MONDAY_9).running_leases == "finish"
    stop = evaluate(ResourcePolicy(on_pause="stop", stop_notice_s=90), paused, MONDAY_9)
    assert (stop.running_leases, stop.notice_s) == ("stop", 90)


# ---- Hysteresis --------------------------------------------------------------------------------


def run(policy: ResourcePolicy, steps: list[tuple[int, PolicyFacts]]) -> list[PolicyDecision]:
    decisions: list[PolicyDecision] = []
    previous = None
    for second, facts in steps:
        previous = evaluate(policy, facts, MONDAY_9 + timedelta(seconds=second), previous)
        decisions.append(previous)
    return decisions


def test_input_pauses_at_once_and_resumes_only_after_the_idle_time() -> None:
    policy = ResourcePolicy(idle_minutes=3, min_pause_s=0)
    steps = [(0, replace(IDLE, idle_seconds=600)), (5, replace(IDLE, idle_seconds=0))]
    steps += [(5 + s, replace(IDLE, idle_seconds=s)) for s in range(10, 181, 10)]
    accepting = [d.accepting for d in run(policy, steps)]
    assert accepting == [True] + [False] * 18 + [True]


def test_short_spikes_do_not_flap() -> None:
    # Mouse bumps every 20 s for 5 minutes: one pause, no resume in between.
    policy = ResourcePolicy(idle_minutes=3)
    steps = [(0, replace(IDLE, idle_seconds=600))]
    steps += [(t, replace(IDLE, idle_seconds=t % 20)) for t in range(1, 300)]
    decisions = run(policy, steps)
    switches = sum(
        a.accepting != b.accepting for a, b in zip(decisions, decisions[1:], strict=False)
    )
    assert switches == 1


def test_min_pause_holds_a_flickering_fact() -> None:
    policy = ResourcePolicy(min_pause_s=120)
    steps = [(0, IDLE), (10, replace(IDLE, on_battery=True)), (11, IDLE), (100, IDLE), (130, IDLE)]
    decisions = run(policy, steps)
    assert [d.accepting for d in decisions] == [True, False, False, False, True]
    held = decisions[2]
    assert held.rule is Rule.MIN_PAUSE and held.next_change == MONDAY_9 + timedelta(seconds=130)
    assert "Resuming at 09:02:10" in held.reason
    assert decisions[3].since == decisions[1].since == MONDAY_9 + timedelta(seconds=10)


def test_gpu_temperature_needs_to_drop_below_the_hysteresis() -> None:
    policy = ResourcePolicy(max_gpu_temp_c=80, gpu_temp_hysteresis_c=5, min_pause_s=0)
    temps = [70, 81, 79, 77, 76, 75, 74, 79, 80, 81]
    decisions = run(policy, [(i, replace(IDLE, gpu_temp_c=t)) for i, t in enumerate(temps)])
    assert [d.accepting for d in decisions] == [
        True,
        False,
        False,
        False,
        False,
        True,
        True,
        True,
        True,
        False,
    ]
    assert "resuming at 75 °C or cooler" in decisions[2].reason


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 30), st.floats(0, 1000)), min_size=1, max_size=60))
def test_no_flapping_faster_than_the_min_pause(steps: list[tuple[int, float]]) -> None:
    policy = ResourcePolicy(min_pause_s=120, idle_minutes=3)
    t, timeline = 0, []
    for gap, idle in steps:
        t += gap
        timeline.append((t, replace(IDLE, idle_seconds=idle)))
    decisions = run(policy, timeline)
    for before, after in zip(decisions, decisions[1:], strict=False):
        if not before.accepting and after.accepting:
            assert (after.since - before.since).total_seconds() >= 120


# ---- Caps --------------------------------------------------------------------------------------


OFFER = Offer(
    cpu_units=16,
    memory_gb=32,
    storage_gb=500,
    gpu_model="rtx4090",
    gpu_units=1,
    cpu_resource="gp",
    gpu_index=0,
)


def test_caps_become_a_capacity() -> None:
    capacity = caps_to_capacity(ResourcePolicy(cpu_threads=4, memory_gb=8, storage_gb=100), OFFER)
    assert capacity == Capacity(4000, 8 * GIB, 100 * GB, 1, "rtx4090")
    assert caps_to_capacity(ResourcePolicy(gpu=False), OFFER).gpu_units == 0
    assert caps_to_capacity(ResourcePolicy(gpu=False), OFFER).gpu_model is None


@given(
    st.one_of(st.none(), st.integers(0, 1024)),
    st.one_of(st.none(), st.integers(0, 10_000)),
    st.one_of(st.none(), st.integers(0, 10_000)),
    st.booleans(),
)
def test_caps_never_exceed_the_offer(
    cpu: int | None, memory: int | None, storage: int | None, gpu: bool
) -> None:
    policy = ResourcePolicy(cpu_threads=cpu, memory_gb=memory, storage_gb=storage, gpu=gpu)
    capacity = caps_to_capacity(policy, OFFER)
    assert 0 <= capacity.cpu_millicores <= OFFER.cpu_units * 1000
    assert 0 <= capacity.memory_bytes <= OFFER.memory_gb * GIB
    assert 0 <= capacity.storage_bytes <= OFFER.storage_gb * GB
    assert capacity.gpu_units <= OFFER.gpu_units


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (45.7, "45 s"),
        (180, "3 min"),
        (125, "2 min 5 s"),
        (5400, "1 h 30 min"),
        (7200, "2 h"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
