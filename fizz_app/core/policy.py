"""The owner's resource policy: what may be rented out, and when new leases are welcome.

:class:`ResourcePolicy` holds the settings (caps, idle-only, battery, programs, fullscreen,
weekly schedule, GPU temperature, what to do with running leases). :func:`evaluate` is pure:
give it the policy, the :class:`PolicyFacts` that :mod:`fizz_app.core.idle` probes, the local
time and the previous decision, and it returns a :class:`PolicyDecision` naming the first rule
that blocks new leases, in this order:

1. ``schedule``: outside every weekly window ("Paused by schedule until Mon 08:00").
2. ``battery``: running on battery power.
3. ``gpu_temperature``: GPU above the limit; it clears only ``gpu_temp_hysteresis_c`` lower.
4. ``program``: a named program is running.
5. ``fullscreen``: a fullscreen app (usually a game) is in front.
6. ``idle`` / ``idle_unknown``: the owner used the computer less than ``idle_minutes`` ago,
   or the system does not say (then ``if_idle_unknown`` decides).
7. ``min_pause``: every rule is clear but the pause began less than ``min_pause_s`` ago.

Idle is asymmetric by nature (it turns "active" at the first input, "idle" only after N quiet
minutes) and ``min_pause_s`` stops a flickering fact from starting and stopping leases; both
come from peers' experience (peers.md 4, BOINC #6483). A fact the probes could not read
(``None``) never blocks, except idle as said above.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import UserFacingError
from .jobs.manifest import Capacity
from .offer import GB, GIB, Offer, offer_from_report
from .pricing import Units, default_units
from .report import HardwareReport
from .validation import first_problem

__all__ = [
    "DAYS",
    "PolicyError",
    "ScheduleWindow",
    "ResourcePolicy",
    "load_policy",
    "PolicyFacts",
    "Rule",
    "PolicyDecision",
    "evaluate",
    "in_schedule",
    "next_schedule_start",
    "schedule_end",
    "caps_to_capacity",
    "units_offered",
    "parse_schedule",
    "describe_window",
    "format_duration",
]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Day names in schedules, Monday first (``datetime.weekday()`` order)."""
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_WEEK = timedelta(days=7)


class PolicyError(UserFacingError):
    """The policy is refused; ``field`` is the dotted name of the bad setting."""

    def __init__(self, message: str, remedy: str, *, field: str) -> None:
        super().__init__(message, remedy)
        self.field = field


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class ScheduleWindow(_Model):
    """Leases welcome on ``days`` from ``start`` to ``end``, local wall-clock time.

    An ``end`` at or before ``start`` crosses midnight into the next day (``fri 22:00-06:00``
    runs to Saturday 06:00); ``end == start`` means 24 hours; ``end`` may be ``24:00``.
    """

    days: tuple[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], ...] = Field(min_length=1)
    start: str = Field(pattern=_TIME.pattern)
    """``HH:MM``, 00:00..23:59."""
    end: str = Field(pattern=r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$")

    @field_validator("days")
    @classmethod
    def _unique_days(cls, days: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(day for day in DAYS if day in days)

    def start_minute(self) -> int:
        hours, minutes = self.start.split(":")
        return int(hours) * 60 + int(minutes)

    def length(self) -> timedelta:
        hours, minutes = self.end.split(":")
        span = (int(hours) * 60 + int(minutes) - self.start_minute()) % (24 * 60)
        return timedelta(minutes=span or 24 * 60)

    def spans(self, around: datetime) -> list[tuple[datetime, datetime]]:
        """The window's occurrences starting from 8 days before to 8 days after ``around``."""
        midnight = around.replace(hour=0, minute=0, second=0, microsecond=0)
        found = []
        for offset in range(-8, 9):
            day = midnight + timedelta(days=offset)
            if DAYS[day.weekday()] in self.days:
                begin = day + timedelta(minutes=self.start_minute())
                found.append((begin, begin + self.length()))
        return found


class ResourcePolicy(_Model):
    """Everything the owner decides about lending. Immutable; change with ``model_copy``."""

    cpu_threads: int | None = Field(default=None, ge=0, le=1024)
    """Most CPU threads rented out; ``None`` means all that are offered."""
    memory_gb: int | None = Field(default=None, ge=0, le=1_000_000)
    storage_gb: int | None = Field(default=None, ge=0, le=1_000_000)
    gpu: bool = True
    """Rent out the GPU."""
    idle_only: bool = True
    """Take new leases only when nobody has used the computer for ``idle_minutes``."""
    idle_minutes: int = Field(default=3, ge=1, le=24 * 60)
    if_idle_unknown: Literal["pause", "run"] = "pause"
    """With ``idle_only`` on a system that cannot report idle time (a Wayland desktop other
    than GNOME, a server): stay paused (the safe choice) or run anyway."""
    min_pause_s: int = Field(default=120, ge=0, le=24 * 3600)
    """Once paused, stay paused at least this long, so a flickering fact can't flap leases."""
    pause_on_battery: bool = True
    pause_programs: tuple[str, ...] = Field(default=(), max_length=200)
    """Process names (``steam``, ``blender.exe``): case-insensitive, ``.exe`` optional."""
    pause_on_fullscreen: bool = True
    schedule: tuple[ScheduleWindow, ...] = Field(default=(), max_length=100)
    """Weekly windows when leases are welcome; empty means any time."""
    max_gpu_temp_c: int | None = Field(default=85, ge=30, le=120)
    """No new leases while the GPU is hotter; ``None`` turns the rule off."""
    gpu_temp_hysteresis_c: int = Field(default=5, ge=0, le=30)
    on_pause: Literal["finish", "stop"] = "finish"
    """Running leases when paused: let them finish, or stop them after a notice."""
    stop_notice_s: int = Field(default=60, ge=0, le=3600)
    """With ``on_pause="stop"``: how long after the notice to the gateway leases stop."""

    @field_validator("pause_programs")
    @classmethod
    def _program_names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(name.strip() for name in names)
        for name in cleaned:
            if not name or len(name) > 255 or any(c in name for c in "/\\\x00"):
                raise ValueError(f"{name!r} is not a program name (1-255 characters, no folder)")
        return cleaned


def load_policy(raw: dict[str, Any]) -> ResourcePolicy:
    """Validate a raw dict (a settings file, CLI input) into a policy.

    Raises:
        PolicyError: naming the first bad field (``schedule.0.start``) and the fix.
    """
    try:
        return ResourcePolicy.model_validate(raw)
    except ValidationError as error:
        problem = first_problem(error)
        if problem.unknown:
            what = f"There is no policy setting {problem.field!r}."
            remedy = "Check its spelling, or remove it."
        else:
            what = f"The policy setting {problem.field!r} is invalid: {problem.message}"
            what += f" (found {str(problem.value)[:60]!r})."
            remedy = "Fix that value; times are HH:MM, days mon..sun, sizes whole numbers."
        raise PolicyError(what, remedy, field=problem.field) from None


# ---- Schedule ----------------------------------------------------------------------------------


def in_schedule(windows: tuple[ScheduleWindow, ...], when: datetime) -> bool:
    """True if ``when`` (local wall-clock time) is inside a window, or there are none."""
    if not windows:
        return True
    return any(begin <= when < end for w in windows for begin, end in w.spans(when))


def next_schedule_start(windows: tuple[ScheduleWindow, ...], when: datetime) -> datetime | None:
    """The first moment after ``when`` that is inside a window (``None``: no windows)."""
    starts = [begin for w in windows for begin, _ in w.spans(when) if begin > when]
    return min(starts) if starts else None


def schedule_end(windows: tuple[ScheduleWindow, ...], when: datetime) -> datetime | None:
    """When the run of windows covering ``when`` ends; ``None`` if it lasts a week or more."""
    if not windows or not in_schedule(windows, when):
        return None
    end = when
    while end - when < _WEEK:
        later = [e for w in windows for b, e in w.spans(end) if b <= end < e]
        if not later:
            return end
        end = max(later)
    return None


# ---- Evaluation --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyFacts:
    """What the probes saw; ``None`` means unknown (never a reason to pause, except idle)."""

    idle_seconds: float | None = None
    on_battery: bool | None = None
    running_processes: frozenset[str] | None = None
    """Lower-case process names (``.exe`` stripped is fine, matching ignores it)."""
    fullscreen: bool | None = None
    gpu_temp_c: float | None = None


class Rule(StrEnum):
    SCHEDULE = "schedule"
    BATTERY = "battery"
    GPU_TEMPERATURE = "gpu_temperature"
    PROGRAM = "program"
    FULLSCREEN = "fullscreen"
    IDLE = "idle"
    IDLE_UNKNOWN = "idle_unknown"
    MIN_PAUSE = "min_pause"


@dataclass(frozen=True)
class PolicyDecision:
    accepting: bool
    """Whether new leases are welcome."""
    reason: str
    """The first blocking rule in plain words, or "Accepting new leases"."""
    rule: Rule | None
    blocking: tuple[Rule, ...]
    """Every rule that blocks now, in order (the first one is ``rule``)."""
    since: datetime
    """When the node last switched between accepting and paused."""
    next_change: datetime | None
    """The earliest time the decision may change with unchanged facts; ``None`` if only new
    facts can change it. Sleep until then, but keep polling the probes (every few seconds)."""
    running_leases: Literal["keep", "finish", "stop"]
    """``keep`` while accepting; when paused, ``finish`` (let them run) or ``stop``: send the
    gateway a notice, wait ``notice_s`` and stop them only if the decision still says so."""
    notice_s: int = 0


def format_duration(seconds: float) -> str:
    """``45 s``, ``3 min``, ``2 min 5 s``, ``1 h 30 min``."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


def _program_key(name: str) -> str:
    name = name.strip().lower()
    return name.removesuffix(".exe")


def _blocks(
    policy: ResourcePolicy,
    facts: PolicyFacts,
    now: datetime,
    previous: PolicyDecision | None,
) -> list[tuple[Rule, str, datetime | None]]:
    """Every blocking rule in order, with its reason and when it may clear on its own."""
    found: list[tuple[Rule, str, datetime | None]] = []
    if not in_schedule(policy.schedule, now):
        start = next_schedule_start(policy.schedule, now)
        until = f" until {start:%a %H:%M}" if start else ""
        found.append((Rule.SCHEDULE, f"Paused by schedule{until}", start))
    if policy.pause_on_battery and facts.on_battery:
        found.append((Rule.BATTERY, "Paused: on battery power", None))
    limit = policy.max_gpu_temp_c
    if policy.gpu and limit is not None and facts.gpu_temp_c is not None:
        was_hot = previous is not None and Rule.GPU_TEMPERATURE in previous.blocking
        threshold = limit - policy.gpu_temp_hysteresis_c if was_hot else limit
        if facts.gpu_temp_c > threshold:
            reason = f"Paused: GPU at {facts.gpu_temp_c:.0f} °C (limit {limit} °C)"
            if was_hot and facts.gpu_temp_c <= limit:
                reason += f"; resuming at {threshold} °C or cooler"
            found.append((Rule.GPU_TEMPERATURE, reason, None))
    if policy.pause_programs and facts.running_processes is not None:
        running = {_program_key(name) for name in facts.running_processes}
        hits = [name for name in policy.pause_programs if _program_key(name) in running]
        if hits:
            found.append((Rule.PROGRAM, f"Paused while {hits[0]} is running", None))
    if policy.pause_on_fullscreen and facts.fullscreen:
        found.append((Rule.FULLSCREEN, "Paused: a fullscreen app is running", None))
    if policy.idle_only:
        needed = policy.idle_minutes * 60
        if facts.idle_seconds is None:
            if policy.if_idle_unknown == "pause":
                found.append(
                    (
                        Rule.IDLE_UNKNOWN,
                        "Paused: idle-only is on, but this computer does not report how long "
                        "it has been idle (turn idle-only off to run anyway)",
                        None,
                    )
                )
        elif facts.idle_seconds < needed:
            found.append(
                (
                    Rule.IDLE,
                    f"Waiting until the computer has been idle {format_duration(needed)} "
                    f"(idle {format_duration(facts.idle_seconds)})",
                    now + timedelta(seconds=needed - facts.idle_seconds),
                )
            )
    return found


def evaluate(
    policy: ResourcePolicy,
    facts: PolicyFacts,
    now: datetime,
    previous: PolicyDecision | None = None,
) -> PolicyDecision:
    """Decide whether new leases are welcome now. Pure: same inputs, same answer.

    Args:
        policy: the owner's settings.
        facts: the latest probe results.
        now: local wall-clock time (naive or aware; the schedule reads its wall clock).
        previous: the last decision, for the pause hysteresis; ``None`` at start-up.
    """
    found = _blocks(policy, facts, now, previous)
    blocking = tuple(rule for rule, _, _ in found)
    # Any rule clearing on its own, or the schedule window closing, may change the decision.
    times = [when for _, _, when in found if when is not None]
    window_end = schedule_end(policy.schedule, now) if policy.schedule else None
    next_change = min([*times, window_end] if window_end else times, default=None)
    if found:
        rule, reason, _ = found[0]
        accepting = False
    else:
        rule, reason, accepting = None, "Accepting new leases", True
        if previous is not None and not previous.accepting and policy.min_pause_s:
            resume_at = previous.since + timedelta(seconds=policy.min_pause_s)
            if now < resume_at:
                rule, accepting, next_change = Rule.MIN_PAUSE, False, resume_at
                reason = (
                    f"Resuming at {resume_at:%H:%M:%S} (paused at least "
                    f"{format_duration(policy.min_pause_s)} to avoid start-stop churn)"
                )
                blocking = (Rule.MIN_PAUSE,)
    changed = previous is None or previous.accepting != accepting
    since = now if changed or previous is None else previous.since
    if accepting:
        leases: Literal["keep", "finish", "stop"] = "keep"
    else:
        leases = policy.on_pause
    return PolicyDecision(
        accepting=accepting,
        reason=reason,
        rule=rule,
        blocking=blocking,
        since=since,
        next_change=next_change,
        running_leases=leases,
        notice_s=policy.stop_notice_s if leases == "stop" else 0,
    )


def caps_to_capacity(policy: ResourcePolicy, offer: Offer) -> Capacity:
    """The policy's caps applied to ``offer``, for the lease manager; never above the offer."""

    def capped(cap: int | None, offered: int) -> int:
        return offered if cap is None else max(0, min(cap, offered))

    gpu_units = offer.gpu_units if policy.gpu else 0
    return Capacity(
        cpu_millicores=capped(policy.cpu_threads, offer.cpu_units) * 1000,
        memory_bytes=capped(policy.memory_gb, offer.memory_gb) * GIB,
        storage_bytes=capped(policy.storage_gb, offer.storage_gb) * GB,
        gpu_units=gpu_units,
        gpu_model=offer.gpu_model if gpu_units else None,
    )


def units_offered(policy: ResourcePolicy, report: HardwareReport) -> Units:
    """The units to put up for rent (and price): what the engine announces and the CLI shows.

    Per resource: the owner's cap where one is set (never more than the machine has), else
    :func:`~fizz_app.core.pricing.default_units` (everything minus a reserve for the owner).
    ``gpu`` off offers no GPU.
    """
    offer = offer_from_report(report)
    reserve = default_units(report)

    def pick(cap: int | None, present: int, default: int) -> int:
        return default if cap is None else max(0, min(cap, present))

    return Units(
        cpu_units=pick(policy.cpu_threads, offer.cpu_units, reserve.cpu_units),
        memory_gb=pick(policy.memory_gb, offer.memory_gb, reserve.memory_gb),
        storage_gb=pick(policy.storage_gb, offer.storage_gb, reserve.storage_gb),
        gpu_units=offer.gpu_units if policy.gpu else 0,
        gpu_model=offer.gpu_model,
    )


# ---- Schedule text ("mon-fri 18:00-08:00") -----------------------------------------------------

_SCHEDULE_HELP = 'Write "DAYS HH:MM-HH:MM", e.g. "mon-fri 18:00-08:00" or "sat,sun 00:00-24:00".'


def _schedule_error(message: str, remedy: str = _SCHEDULE_HELP) -> PolicyError:
    return PolicyError(message, remedy, field="schedule")


_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _day(name: str) -> int:
    # "mon", "tues", "monday": any start of a day's full name, three letters or more.
    for index, full in enumerate(_FULL_DAYS):
        if len(name) >= 3 and full.startswith(name):
            return index
    raise _schedule_error(f"{name!r} is not a day.", "Use mon,tue,... or a range like mon-fri.")


def _parse_days(text: str) -> tuple[str, ...]:
    if text in ("daily", "all"):
        return DAYS
    days: set[str] = set()
    for part in text.split(","):
        first, dash, last = part.partition("-")
        start = _day(first)
        end = _day(last) if dash else start
        # A range may wrap the week end: fri-mon is fri, sat, sun, mon.
        days.update(DAYS[(start + i) % 7] for i in range((end - start) % 7 + 1))
    return tuple(day for day in DAYS if day in days)


def _parse_time(text: str, *, end: bool) -> str:
    hours, colon, minutes = text.partition(":")
    if colon and hours.isdigit() and minutes.isdigit() and len(minutes) == 2:
        value = f"{int(hours):02d}:{minutes}"
        if _TIME.match(value) or (end and value == "24:00"):
            return value
    raise _schedule_error(
        f"{text!r} is not a time of day.", "Write times as HH:MM, 00:00 to 24:00."
    )


def parse_schedule(text: str) -> tuple[ScheduleWindow, ...]:
    """Parse ``"mon-fri 18:00-08:00; sat,sun 00:00-24:00"`` into windows.

    Days are ``mon``..``sun`` (full names too), lists (``sat,sun``), ranges (``mon-fri``,
    ``fri-mon`` wraps), or ``daily``; no days means every day. Raises :class:`PolicyError`
    (``field="schedule"``) quoting the part it could not read.
    """
    windows = []
    for part in (chunk.strip().lower() for chunk in text.split(";")):
        if not part:
            continue
        words = part.split()
        if len(words) > 2 or "-" not in words[-1] or ":" not in words[-1]:
            raise _schedule_error(f"{part!r} is not a schedule window.")
        days = _parse_days(words[0]) if len(words) == 2 else DAYS
        start_text, _, end_text = words[-1].partition("-")
        start, end = _parse_time(start_text, end=False), _parse_time(end_text, end=True)
        windows.append(ScheduleWindow(days=days, start=start, end=end))  # type: ignore[arg-type]
    if not windows:
        raise _schedule_error(f"{text!r} holds no schedule window.")
    return tuple(windows)


def describe_window(window: ScheduleWindow) -> str:
    """A window as :func:`parse_schedule` reads it back: ``mon-fri 18:00-08:00``."""
    indices = [DAYS.index(day) for day in window.days]
    runs: list[list[int]] = []
    for index in indices:
        if runs and index == runs[-1][-1] + 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    if len(runs) > 1 and runs[0][0] == 0 and runs[-1][-1] == len(DAYS) - 1:
        runs[0] = runs.pop() + runs[0]  # across the week end: fri-mon
    parts = [DAYS[run[0]] if len(run) == 1 else f"{DAYS[run[0]]}-{DAYS[run[-1]]}" for run in runs]
    days = "daily" if len(indices) == 7 else ",".join(parts)
    return f"{days} {window.start}-{window.end}"
