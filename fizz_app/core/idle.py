"""Probes for the resource policy's facts: input idle time, battery, programs, fullscreen.

Every probe is blocking (call it through ``asyncio.to_thread``), takes well under a second,
never raises, and returns ``None`` for "unknown". What each OS allows:

- **Idle time.** Linux X11: the MIT-SCREEN-SAVER extension (``libXss``) through ctypes.
  Linux Wayland: GNOME's ``org.gnome.Mutter.IdleMonitor`` over the session D-Bus (``gdbus``,
  else ``dbus-send``); other Wayland desktops publish no idle time to ordinary apps, and
  XWayland's would only count X clients' input, so the answer there is ``None``. No display
  (a server, SSH): ``None``. Windows: ``GetLastInputInfo``. macOS: ``HIDIdleTime`` from
  ``ioreg -c IOHIDSystem``.
- **Battery:** ``psutil.sensors_battery()`` on every OS; ``None`` without a battery.
- **Programs:** ``psutil`` process names, lower-cased (Linux names come from ``comm``,
  which psutil completes from the command line when cut at 15 characters).
- **Fullscreen** (best effort): X11, the EWMH ``_NET_WM_STATE_FULLSCREEN`` flag of the
  ``_NET_ACTIVE_WINDOW`` (needs a window manager that sets them; all common ones do);
  Windows, ``SHQueryUserNotificationState`` (fullscreen app, Direct3D game or presentation).
  Wayland and macOS offer no such query to an unprivileged process: ``None``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import psutil

from .policy import PolicyFacts

__all__ = [
    "idle_seconds",
    "on_battery",
    "running_process_names",
    "fullscreen_app",
    "collect_facts",
    "x11_idle_seconds",
    "x11_fullscreen",
    "mutter_idle_seconds",
    "parse_dbus_uint64",
    "parse_ioreg_idle",
    "idle_from_ticks",
    "fullscreen_from_notification_state",
]

log = logging.getLogger(__name__)

_TIMEOUT_S = 2.0
_MUTTER = (
    "org.gnome.Mutter.IdleMonitor",
    "/org/gnome/Mutter/IdleMonitor/Core",
    "org.gnome.Mutter.IdleMonitor.GetIdletime",
)
Runner = Callable[[list[str]], str | None]


def _run(argv: list[str]) -> str | None:
    """Run a probe command; its stdout, or ``None`` if missing, failing or slow."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


# ---- Pure parsers (tested on every OS) ---------------------------------------------------------


def parse_dbus_uint64(text: str) -> int | None:
    """The number in ``gdbus`` output ``(uint64 1234,)`` or ``dbus-send`` ``uint64 1234``."""
    match = re.search(r"\buint64\s+(\d+)", text)
    return int(match.group(1)) if match else None


def parse_ioreg_idle(text: str) -> float | None:
    """Seconds from ``ioreg -c IOHIDSystem`` output: ``"HIDIdleTime" = <nanoseconds>``.

    Several IOHIDSystem entries may appear; the smallest value is the latest input.
    """
    values = [int(v) for v in re.findall(r'"HIDIdleTime"\s*=\s*(\d+)', text)]
    return min(values) / 1e9 if values else None


def idle_from_ticks(now_ms: int, last_input_ms: int) -> float:
    """Seconds between ``GetLastInputInfo``'s 32-bit tick and ``GetTickCount``'s, wrap-safe.

    Both counters wrap every 49.7 days; the difference modulo 2**32 is still right.
    """
    return ((now_ms - last_input_ms) & 0xFFFFFFFF) / 1000.0


def fullscreen_from_notification_state(state: int) -> bool | None:
    """Windows ``QUERY_USER_NOTIFICATION_STATE`` -> fullscreen? (``None``: unknown value).

    2 QUNS_BUSY (a fullscreen app), 3 QUNS_RUNNING_D3D_FULL_SCREEN (a game), 4
    QUNS_PRESENTATION_MODE -> True; 1 not present, 5 accepts notifications, 6 quiet time, 7
    a Windows Store app -> False.
    """
    return {1: False, 2: True, 3: True, 4: True, 5: False, 6: False, 7: False}.get(state)


# ---- X11 through ctypes ------------------------------------------------------------------------


class _XScreenSaverInfo(ctypes.Structure):
    _fields_ = [
        ("window", ctypes.c_ulong),
        ("state", ctypes.c_int),
        ("kind", ctypes.c_int),
        ("til_or_since", ctypes.c_ulong),
        ("idle", ctypes.c_ulong),
        ("event_mask", ctypes.c_ulong),
    ]


@functools.cache
def _library(name: str) -> Any:
    # One CDLL object per library, so the prototypes set below are shared by every probe.
    path = ctypes.util.find_library(name)
    if path is None:
        return None
    try:
        return ctypes.CDLL(path)
    except OSError:
        return None


_ERROR_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)


@contextmanager
def _display(name: str | None) -> Iterator[tuple[Any, Any, int] | None]:
    """libX11, an open display and its root window, or ``None``; X errors are ignored meanwhile.

    Xlib's default error handler exits the process, and a window can vanish between two
    requests, so a no-op handler is installed for the duration and the old one restored.
    """
    xlib = _library("X11")
    target = name if name is not None else os.environ.get("DISPLAY")
    if xlib is None or not target:
        yield None
        return
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    xlib.XDefaultRootWindow.restype = ctypes.c_ulong
    xlib.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
    xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    xlib.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
    xlib.XSetErrorHandler.restype = ctypes.c_void_p
    xlib.XSetErrorHandler.argtypes = [ctypes.c_void_p]
    xlib.XFree.argtypes = [ctypes.c_void_p]
    display = xlib.XOpenDisplay(target.encode())
    if not display:
        yield None
        return
    ignore = _ERROR_HANDLER(lambda _display, _event: 0)
    previous = xlib.XSetErrorHandler(ctypes.cast(ignore, ctypes.c_void_p))
    try:
        yield (xlib, display, xlib.XDefaultRootWindow(display))
    finally:
        xlib.XSync(display, 0)  # deliver any pending error to our handler, not the old one
        xlib.XSetErrorHandler(previous)
        xlib.XCloseDisplay(display)


def x11_idle_seconds(display_name: str | None = None) -> float | None:
    """Seconds since the last input on an X display (default ``$DISPLAY``), or ``None``."""
    xss = _library("Xss")
    if xss is None:
        return None
    try:
        with _display(display_name) as opened:
            if opened is None:
                return None
            xlib, display, root = opened
            xss.XScreenSaverQueryExtension.argtypes = [ctypes.c_void_p] + [
                ctypes.POINTER(ctypes.c_int)
            ] * 2
            xss.XScreenSaverAllocInfo.restype = ctypes.POINTER(_XScreenSaverInfo)
            xss.XScreenSaverQueryInfo.argtypes = [
                ctypes.c_void_p,
                ctypes.c_ulong,
                ctypes.POINTER(_XScreenSaverInfo),
            ]
            event_base, error_base = ctypes.c_int(), ctypes.c_int()
            if not xss.XScreenSaverQueryExtension(
                display, ctypes.byref(event_base), ctypes.byref(error_base)
            ):
                return None
            info = xss.XScreenSaverAllocInfo()
            if not info:
                return None
            try:
                if not xss.XScreenSaverQueryInfo(display, root, info):
                    return None
                return float(info.contents.idle) / 1000.0
            finally:
                xlib.XFree(info)
    except Exception as error:  # ctypes.ArgumentError, a missing symbol...: unknown
        log.debug("X11 idle probe failed: %s", error)
        return None


def _window_property(xlib: Any, display: Any, window: int, name: str) -> list[int] | None:
    """A 32-bit-format window property as a list of numbers, or ``None`` if absent."""
    atom = xlib.XInternAtom(display, name.encode(), True)
    if not atom:
        return None
    actual_type, actual_format = ctypes.c_ulong(), ctypes.c_int()
    count, remaining = ctypes.c_ulong(), ctypes.c_ulong()
    data = ctypes.POINTER(ctypes.c_ulong)()
    status = xlib.XGetWindowProperty(
        display,
        window,
        atom,
        0,
        1024,
        False,
        0,
        ctypes.byref(actual_type),
        ctypes.byref(actual_format),
        ctypes.byref(count),
        ctypes.byref(remaining),
        ctypes.byref(data),
    )
    if status != 0 or not data:
        return None
    try:
        # Format-32 items arrive as C longs whatever their size on the wire.
        return [data[i] for i in range(count.value)] if actual_format.value == 32 else None
    finally:
        xlib.XFree(data)


def x11_fullscreen(display_name: str | None = None) -> bool | None:
    """Whether the active X11 window is fullscreen (EWMH); ``None`` without a window manager."""
    xlib = _library("X11")
    if xlib is None:
        return None
    xlib.XInternAtom.restype = ctypes.c_ulong
    xlib.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    xlib.XGetWindowProperty.argtypes = [
        ctypes.c_void_p,
        ctypes.c_ulong,
        ctypes.c_ulong,
        ctypes.c_long,
        ctypes.c_long,
        ctypes.c_int,
        ctypes.c_ulong,
        ctypes.POINTER(ctypes.c_ulong),
        ctypes.POINTER(ctypes.c_int),
        ctypes.POINTER(ctypes.c_ulong),
        ctypes.POINTER(ctypes.c_ulong),
        ctypes.POINTER(ctypes.POINTER(ctypes.c_ulong)),
    ]
    try:
        with _display(display_name) as opened:
            if opened is None:
                return None
            _, display, root = opened
            active = _window_property(xlib, display, root, "_NET_ACTIVE_WINDOW")
            if not active:
                return None
            if active[0] == 0:
                return False  # no window has the focus: nothing is fullscreen
            state = _window_property(xlib, display, active[0], "_NET_WM_STATE")
            if state is None:
                # A vanished window (its request failed) reads as unknown, a plain one as no.
                return None if not _window_exists(xlib, display, active[0]) else False
            fullscreen = xlib.XInternAtom(display, b"_NET_WM_STATE_FULLSCREEN", True)
            return bool(fullscreen) and fullscreen in state
    except Exception as error:  # never let a probe raise
        log.debug("X11 fullscreen probe failed: %s", error)
        return None


def _window_exists(xlib: Any, display: Any, window: int) -> bool:
    attributes = (ctypes.c_char * 256)()  # XWindowAttributes is under 256 bytes on 64-bit
    xlib.XGetWindowAttributes.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p]
    return bool(xlib.XGetWindowAttributes(display, window, attributes))


# ---- Per-OS dispatch ---------------------------------------------------------------------------


def mutter_idle_seconds(run: Runner = _run) -> float | None:
    """GNOME (X11 or Wayland) idle time over the session D-Bus, or ``None``."""
    dest, path, method = _MUTTER
    out = run(
        ["gdbus", "call", "--session", "--dest", dest, "--object-path", path, "--method", method]
    )
    if out is None:
        out = run(["dbus-send", "--session", "--print-reply", f"--dest={dest}", path, method])
    value = parse_dbus_uint64(out) if out else None
    return value / 1000.0 if value is not None else None


def _wayland() -> bool:
    return os.environ.get("XDG_SESSION_TYPE") == "wayland" or bool(
        os.environ.get("WAYLAND_DISPLAY")
    )


def _windows_idle_seconds() -> float | None:
    if sys.platform == "win32":

        class LastInputInfo(ctypes.Structure):
            _fields_ = [("cbSize", ctypes.c_uint), ("dwTime", ctypes.c_uint32)]

        info = LastInputInfo(ctypes.sizeof(LastInputInfo), 0)
        user32, kernel32 = ctypes.windll.user32, ctypes.windll.kernel32
        if not user32.GetLastInputInfo(ctypes.byref(info)):
            return None
        kernel32.GetTickCount.restype = ctypes.c_uint32
        return idle_from_ticks(kernel32.GetTickCount(), info.dwTime)
    return None


def _windows_fullscreen() -> bool | None:
    if sys.platform == "win32":
        state = ctypes.c_int()
        if ctypes.windll.shell32.SHQueryUserNotificationState(ctypes.byref(state)) != 0:
            return None
        return fullscreen_from_notification_state(state.value)
    return None


def idle_seconds(run: Runner = _run) -> float | None:
    """Seconds since the owner last touched keyboard or mouse; ``None`` if not knowable."""
    try:
        if sys.platform == "win32":
            return _windows_idle_seconds()
        if sys.platform == "darwin":
            out = run(["ioreg", "-c", "IOHIDSystem", "-d", "4", "-r", "-k", "HIDIdleTime"])
            return parse_ioreg_idle(out) if out else None
        if _wayland():
            return mutter_idle_seconds(run)
        return x11_idle_seconds()
    except Exception as error:  # a probe must never take the engine down
        log.debug("idle probe failed: %s", error)
        return None


def on_battery() -> bool | None:
    """True on battery power, False on mains; ``None`` without a battery or when unknown."""
    try:
        battery = psutil.sensors_battery()
    except Exception:  # psutil raises odd errors on some firmware; unknown it is
        return None
    if battery is None or battery.power_plugged is None:
        return None
    return not battery.power_plugged


def running_process_names() -> frozenset[str] | None:
    """Lower-case names of the running processes (``None`` if they can't be listed)."""
    names: set[str] = set()
    try:
        for process in psutil.process_iter(["name"]):
            name = process.info.get("name")
            if name:
                names.add(str(name).lower())
    except Exception:
        return None
    return frozenset(names)


def fullscreen_app() -> bool | None:
    """Best effort: is a fullscreen app in front? ``None`` where the OS won't say."""
    try:
        if sys.platform == "win32":
            return _windows_fullscreen()
        if sys.platform == "darwin" or _wayland():
            return None
        return x11_fullscreen()
    except Exception:
        return None


def collect_facts(gpu_temp_c: float | None = None, *, processes: bool = True) -> PolicyFacts:
    """Run every probe once. ``gpu_temp_c`` comes from the hardware probe (NVML).

    ``processes=False`` skips listing the running programs (the costliest probe: it walks
    every process); pass it when no pause-program rule is set."""
    with suppress(Exception):
        return PolicyFacts(
            idle_seconds=idle_seconds(),
            on_battery=on_battery(),
            running_processes=running_process_names() if processes else None,
            fullscreen=fullscreen_app(),
            gpu_temp_c=gpu_temp_c,
        )
    return PolicyFacts(gpu_temp_c=gpu_temp_c)
