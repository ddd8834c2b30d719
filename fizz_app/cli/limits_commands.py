"""``fizz-node limits show | set ...``: what this machine lends, and when.

The limits are the settings' ``limits`` section (:class:`~fizz_app.core.policy.ResourcePolicy`).
Like the pricing commands they only edit the settings file, so they work with or without a
running node.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..core import paths
from ..core.config import Settings, SettingsStore
from ..core.errors import UserFacingError
from .output import emit
from .pricing_commands import APPLIES_LIVE, probe, saved_or_refused

__all__ = ["add_parsers"]

_FLAGS = {
    "limits.cpu_threads": "--cpu",
    "limits.memory_gb": "--memory-gb",
    "limits.storage_gb": "--storage-gb",
    "limits.gpu": "--gpu",
    "limits.idle_only": "--idle-only",
    "limits.idle_minutes": "--idle-minutes",
    "limits.if_idle_unknown": "--if-idle-unknown",
    "limits.pause_on_battery": "--battery",
    "limits.pause_programs": "--pause-programs",
    "limits.pause_on_fullscreen": "--fullscreen",
    "limits.schedule": "--schedule",
    "limits.max_gpu_temp_c": "--max-gpu-temp",
    "limits.on_pause": "--on-pause",
    "limits.stop_notice_s": "--stop-notice",
}


def _cap(text: str) -> int | None:
    """A whole number, or ``all`` for no cap."""
    if text.strip().lower() in ("all", "none", "max"):
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a whole number; give a number, or 'all' for no limit"
        ) from None


def _temperature(text: str) -> int | None:
    if text.strip().lower() == "off":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a temperature; give whole degrees Celsius (30-120), or 'off'"
        ) from None


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    limits = sub.add_parser(
        "limits",
        help="what this machine lends, and when (caps, idle-only, battery, schedule...)",
        description="Changes are saved to the settings; a running node applies them within a "
        "few seconds. Running leases are never resized.",
    ).add_subparsers(dest="limits_command", metavar="ACTION", required=True)

    show = limits.add_parser("show", help="the current limits and what they offer here")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=show_limits)

    change = limits.add_parser(
        "set",
        help="change some limits (only the options given change)",
        description="Only the options given change. Caps never offer more than the machine "
        "has; 'all' removes a cap (then everything is offered but a reserve for you).",
    )
    # Caps and the temperature limit default to "not given" (absent), since None means "all".
    absent = argparse.SUPPRESS
    change.add_argument(
        "--cpu", type=_cap, default=absent, metavar="N|all", help="most CPU threads offered"
    )
    change.add_argument(
        "--memory-gb", type=_cap, default=absent, metavar="N|all", help="most GB of RAM offered"
    )
    change.add_argument(
        "--storage-gb", type=_cap, default=absent, metavar="N|all", help="most GB of storage"
    )
    change.add_argument("--gpu", choices=("on", "off"), help="rent out the GPU")
    change.add_argument(
        "--idle-only", choices=("on", "off"), help="take new leases only while you are away"
    )
    change.add_argument(
        "--idle-minutes", type=int, metavar="N", help="minutes without input that count as away"
    )
    change.add_argument(
        "--if-idle-unknown",
        choices=("pause", "run"),
        help="with idle-only, on a system that cannot tell idle time (a server): pause or run",
    )
    change.add_argument("--battery", choices=("pause", "run"), help="on battery power")
    change.add_argument(
        "--pause-programs",
        metavar="NAMES",
        help="pause while these run: comma-separated process names (steam,obs); '' for none",
    )
    change.add_argument("--fullscreen", choices=("pause", "run"), help="while a game is fullscreen")
    schedule = change.add_mutually_exclusive_group()
    schedule.add_argument(
        "--schedule",
        action="append",
        metavar="WINDOWS",
        help='when leases are welcome, e.g. "mon-fri 18:00-08:00"; repeat the option or '
        "separate windows with ';'. Replaces the current schedule",
    )
    schedule.add_argument(
        "--schedule-clear", action="store_true", help="no schedule: leases welcome any time"
    )
    change.add_argument(
        "--max-gpu-temp",
        type=_temperature,
        default=absent,
        metavar="C|off",
        help="no new leases while the GPU is hotter (degrees Celsius)",
    )
    change.add_argument(
        "--on-pause",
        choices=("finish", "stop"),
        help="running leases when paused: let them finish, or stop them after a notice",
    )
    change.add_argument(
        "--stop-notice", type=int, metavar="S", help="with --on-pause stop: seconds of notice"
    )
    change.add_argument("--json", action="store_true", help="print JSON")
    change.set_defaults(handler=set_limits)


# ---- Commands -----------------------------------------------------------------------------------


def show_limits(args: argparse.Namespace) -> int:
    """``fizz-node limits show``."""
    settings = SettingsStore(paths.settings_path()).load()
    _print_limits(args.json, settings, saved=False)
    return 0


def set_limits(args: argparse.Namespace) -> int:
    """``fizz-node limits set``: only the options given change; nothing is saved on an error."""
    changes = _changes(args)
    if not changes:
        raise UserFacingError(
            "Nothing to change: no limit was given.",
            "Add options, e.g. fizz-node limits set --cpu 4 (see fizz-node limits set -h).",
        )
    store = SettingsStore(paths.settings_path())
    raw = {**store.load().limits.model_dump(mode="json"), **changes}
    saved = saved_or_refused(store, "limits", raw, _FLAGS)
    _print_limits(args.json, saved, saved=True)
    return 0


def _changes(args: argparse.Namespace) -> dict[str, Any]:
    from ..core.policy import PolicyError, parse_schedule

    changes: dict[str, Any] = {}
    for option, field in (
        ("cpu", "cpu_threads"),
        ("memory_gb", "memory_gb"),
        ("storage_gb", "storage_gb"),
        ("max_gpu_temp", "max_gpu_temp_c"),
    ):
        if option in vars(args):
            changes[field] = getattr(args, option)
    switches = {
        "gpu": ("gpu", "on"),
        "idle_only": ("idle_only", "on"),
        "battery": ("pause_on_battery", "pause"),
        "fullscreen": ("pause_on_fullscreen", "pause"),
    }
    for option, (field, true_word) in switches.items():
        if getattr(args, option) is not None:
            changes[field] = getattr(args, option) == true_word
    for option, field in (
        ("idle_minutes", "idle_minutes"),
        ("if_idle_unknown", "if_idle_unknown"),
        ("on_pause", "on_pause"),
        ("stop_notice", "stop_notice_s"),
    ):
        if getattr(args, option) is not None:
            changes[field] = getattr(args, option)
    if args.pause_programs is not None:
        names = [n.strip() for n in args.pause_programs.split(",") if n.strip()]
        changes["pause_programs"] = [] if names in ([], ["none"]) else names
    if args.schedule_clear:
        changes["schedule"] = []
    elif args.schedule is not None:
        try:
            windows = parse_schedule(";".join(args.schedule))
        except PolicyError as error:
            raise UserFacingError(f"--schedule: {error.message}", error.remedy) from None
        changes["schedule"] = [w.model_dump(mode="json") for w in windows]
    return changes


# ---- Output -------------------------------------------------------------------------------------


def limits_data(settings: Settings) -> dict[str, Any]:
    """The limits as JSON-ready data: the settings, readable schedule, and what is offered."""
    from ..core.offer import offer_from_report
    from ..core.policy import describe_window, units_offered

    report = probe(settings)
    offer = offer_from_report(report)
    units = units_offered(settings.limits, report)
    return {
        "limits": settings.limits.model_dump(mode="json"),
        "schedule_text": [describe_window(w) for w in settings.limits.schedule],
        "offered": {
            "cpu_threads": units.cpu_units,
            "memory_gb": units.memory_gb,
            "storage_gb": units.storage_gb,
            "gpu_units": units.gpu_units,
            "gpu_model": units.gpu_model,
        },
        "present": {
            "cpu_threads": offer.cpu_units,
            "memory_gb": offer.memory_gb,
            "storage_gb": offer.storage_gb,
            "gpu_units": offer.gpu_units,
        },
    }


def _print_limits(as_json: bool, settings: Settings, *, saved: bool) -> None:
    data = limits_data(settings)
    emit(as_json, data, render_limits(data, saved=saved))


def _cap_text(cap: int | None, offered: int, present: int, unit: str) -> str:
    limit = "no cap (all but a reserve for you)" if cap is None else f"up to {cap} {unit}"
    return f"{limit}: offering {offered} of {present} {unit}"


def render_limits(data: dict[str, Any], *, saved: bool = False) -> str:
    """The limits from :func:`limits_data` as text for a terminal."""
    policy, offered, present = data["limits"], data["offered"], data["present"]
    if present["gpu_units"] == 0:
        gpu = "none present"
    else:
        gpu = f"{'on' if policy['gpu'] else 'off'} ({offered['gpu_model']})"
    if policy["idle_only"]:
        idle = (
            f"on: after {policy['idle_minutes']} min without input "
            f"(if idle time is unknown: {policy['if_idle_unknown']})"
        )
    else:
        idle = "off: lend while you use the computer"
    programs = ", ".join(policy["pause_programs"]) or "none"
    temp = policy["max_gpu_temp_c"]
    when_paused = (
        "running leases finish"
        if policy["on_pause"] == "finish"
        else f"running leases stop {policy['stop_notice_s']} s after a notice"
    )

    def cap(field: str, unit: str) -> str:
        return _cap_text(policy[field], offered[field], present[field], unit)

    rows = [
        ("CPU", cap("cpu_threads", "threads")),
        ("Memory", cap("memory_gb", "GB")),
        ("Storage", cap("storage_gb", "GB")),
        ("GPU", gpu),
        ("Idle only", idle),
        ("On battery", "pause" if policy["pause_on_battery"] else "keep running"),
        ("Programs", f"pause while running: {programs}"),
        ("Fullscreen", "pause" if policy["pause_on_fullscreen"] else "keep running"),
        ("Schedule", "; ".join(data["schedule_text"]) or "any time"),
        ("GPU temp", "no limit" if temp is None else f"no new leases above {temp} °C"),
        ("When paused", when_paused),
    ]
    lines = ["Limits: what this machine lends, and when", ""]
    lines += [f"  {label:<12} {value}" for label, value in rows]
    if saved:
        lines += ["", APPLIES_LIVE]
    return "\n".join(lines)
