"""The OS probes: X11 for real under Xvfb, the other OSes through their output parsers."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil
import pytest

from fizz_app.core import idle
from fizz_app.core.policy import PolicyFacts

XA_ATOM, XA_WINDOW = 4, 33


@pytest.fixture(scope="module")
def xvfb() -> Iterator[str]:
    """A private Xvfb display; ``-noreset`` so the server keeps its idle timer between probes."""
    if shutil.which("Xvfb") is None or ctypes.util.find_library("Xss") is None:
        pytest.skip("needs Xvfb and libXss (scripts/bootstrap.sh installs xvfb and libxss1)")
    number = next(n for n in range(140, 240) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    server = subprocess.Popen(
        ["Xvfb", f":{number}", "-noreset", "-nolisten", "tcp", "-screen", "0", "640x480x24"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    socket = Path(f"/tmp/.X11-unix/X{number}")
    deadline = time.monotonic() + 10
    while not socket.exists() and time.monotonic() < deadline and server.poll() is None:
        time.sleep(0.05)
    if not socket.exists():
        server.kill()
        pytest.skip("Xvfb did not start")
    yield f":{number}"
    server.terminate()
    server.wait(timeout=10)


class _X:
    """Just enough Xlib to play window manager in a test."""

    def __init__(self, display: str) -> None:
        self.lib: Any = ctypes.CDLL(ctypes.util.find_library("X11"))
        self.lib.XOpenDisplay.restype = ctypes.c_void_p
        self.lib.XDefaultRootWindow.restype = ctypes.c_ulong
        self.lib.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
        self.lib.XCreateSimpleWindow.restype = ctypes.c_ulong
        ints, uints, ulongs = [ctypes.c_int] * 2, [ctypes.c_uint] * 3, [ctypes.c_ulong] * 2
        self.lib.XCreateSimpleWindow.argtypes = [
            ctypes.c_void_p,
            ctypes.c_ulong,
            *ints,
            *uints,
            *ulongs,
        ]
        self.lib.XInternAtom.restype = ctypes.c_ulong
        self.lib.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        self.lib.XChangeProperty.argtypes = [
            ctypes.c_void_p,
            ctypes.c_ulong,
            ctypes.c_ulong,
            ctypes.c_ulong,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_int,
        ]
        self.lib.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
        self.lib.XCloseDisplay.argtypes = [ctypes.c_void_p]
        self.display = self.lib.XOpenDisplay(display.encode())
        assert self.display
        self.root = self.lib.XDefaultRootWindow(self.display)

    def atom(self, name: str) -> int:
        return int(self.lib.XInternAtom(self.display, name.encode(), False))

    def window(self) -> int:
        return int(self.lib.XCreateSimpleWindow(self.display, self.root, 0, 0, 10, 10, 0, 0, 0))

    def set(self, window: int, name: str, kind: int, values: list[int]) -> None:
        data = (ctypes.c_ulong * max(1, len(values)))(*values)
        self.lib.XChangeProperty(
            self.display, window, self.atom(name), kind, 32, 0, data, len(values)
        )
        self.lib.XSync(self.display, 0)

    def move_pointer(self) -> None:
        xtst: Any = ctypes.CDLL(ctypes.util.find_library("Xtst") or "libXtst.so.6")
        xtst.XTestFakeMotionEvent.argtypes = [
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_ulong,
        ]
        xtst.XTestFakeMotionEvent(self.display, -1, 5, 5, 0)
        self.lib.XSync(self.display, 0)

    def close(self) -> None:
        self.lib.XCloseDisplay(self.display)


# ---- X11, for real -----------------------------------------------------------------------------


def test_x11_idle_grows_and_input_resets_it(xvfb: str) -> None:
    first = idle.x11_idle_seconds(xvfb)
    assert first is not None and first >= 0
    time.sleep(0.6)
    later = idle.x11_idle_seconds(xvfb)
    assert later is not None and later >= first + 0.5
    if ctypes.util.find_library("Xtst") is None:
        pytest.skip("libXtst missing: cannot fake input")
    x = _X(xvfb)
    try:
        x.move_pointer()
    finally:
        x.close()
    after_input = idle.x11_idle_seconds(xvfb)
    assert after_input is not None and after_input < later


def test_idle_seconds_uses_x11_on_an_x_session(xvfb: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", xvfb)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("XDG_SESSION_TYPE", "x11")
    assert isinstance(idle.idle_seconds(), float)


def test_x11_fullscreen_follows_the_window_manager_hints(xvfb: str) -> None:
    # No window manager: nobody sets _NET_ACTIVE_WINDOW, so the answer is "unknown".
    assert idle.x11_fullscreen(xvfb) is None
    x = _X(xvfb)
    try:
        game = x.window()
        x.set(x.root, "_NET_ACTIVE_WINDOW", XA_WINDOW, [game])
        x.set(game, "_NET_WM_STATE", XA_ATOM, [x.atom("_NET_WM_STATE_FULLSCREEN")])
        assert idle.x11_fullscreen(xvfb) is True
        x.set(game, "_NET_WM_STATE", XA_ATOM, [x.atom("_NET_WM_STATE_ABOVE")])
        assert idle.x11_fullscreen(xvfb) is False
        x.set(x.root, "_NET_ACTIVE_WINDOW", XA_WINDOW, [0])
        assert idle.x11_fullscreen(xvfb) is False
        # A window id that does not exist: X errors are swallowed, the answer is unknown.
        x.set(x.root, "_NET_ACTIVE_WINDOW", XA_WINDOW, [0x3FFFFFF])
        assert idle.x11_fullscreen(xvfb) is None
        assert idle.x11_idle_seconds(xvfb) is not None  # the process and display live on
    finally:
        x.close()


def test_no_display_means_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("XDG_SESSION_TYPE", raising=False)
    assert idle.x11_idle_seconds() is None
    assert idle.x11_fullscreen() is None
    assert idle.idle_seconds() is None
    assert idle.fullscreen_app() is None
    assert idle.x11_idle_seconds(":239") is None  # no such server


# ---- Wayland (GNOME) ---------------------------------------------------------------------------


def test_wayland_asks_mutter_and_never_x11(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    calls: list[list[str]] = []

    def gdbus(argv: list[str]) -> str | None:
        calls.append(argv)
        return "(uint64 45250,)\n" if argv[0] == "gdbus" else None

    assert idle.idle_seconds(gdbus) == pytest.approx(45.25)
    assert calls[0][:3] == ["gdbus", "call", "--session"]
    assert "org.gnome.Mutter.IdleMonitor.GetIdletime" in calls[0]

    def dbus_send(argv: list[str]) -> str | None:
        if argv[0] != "dbus-send":
            return None
        return "method return time=1.2 sender=:1.9 -> destination=:1.80 serial=5\n   uint64 1200\n"

    assert idle.idle_seconds(dbus_send) == pytest.approx(1.2)
    assert idle.idle_seconds(lambda argv: None) is None  # not GNOME: unknown, not X11's guess
    assert idle.fullscreen_app() is None


def test_real_gdbus_without_a_session_bus_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
    assert idle.mutter_idle_seconds() is None


# ---- Parsers for the other OSes ----------------------------------------------------------------

IOREG = """+-o IOHIDSystem  <class IOHIDSystem, id 0x100000453, registered, matched, active, busy 0>
    {
      "HIDIdleTimeDelta" = 0
      "HIDIdleTime" = 7351234567
      "HIDParameters" = {"HIDKeyRepeat"=83333333}
    }
+-o IOHIDSystem  <class IOHIDSystem, id 0x100000999>
    {
      "HIDIdleTime" = 9000000000
    }
"""


def test_parsers() -> None:
    assert idle.parse_ioreg_idle(IOREG) == pytest.approx(7.351234567)
    assert idle.parse_ioreg_idle("no such key") is None
    assert idle.parse_dbus_uint64("(uint64 0,)") == 0
    assert (
        idle.parse_dbus_uint64("Error: GDBus.Error:org.freedesktop.DBus.Error.ServiceUnknown")
        is None
    )
    assert idle.idle_from_ticks(10_500, 10_000) == 0.5
    assert idle.idle_from_ticks(200, 0xFFFFFF00) == pytest.approx(0.456)  # the tick wrapped
    assert [idle.fullscreen_from_notification_state(s) for s in range(0, 9)] == [
        None,
        False,
        True,
        True,
        True,
        False,
        False,
        False,
        None,
    ]


def test_macos_dispatch_reads_ioreg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    seen: list[list[str]] = []

    def ioreg(argv: list[str]) -> str:
        seen.append(argv)
        return IOREG

    assert idle.idle_seconds(ioreg) == pytest.approx(7.351234567)
    assert seen[0][:3] == ["ioreg", "-c", "IOHIDSystem"]
    assert idle.fullscreen_app() is None


# ---- Battery, processes, all facts -------------------------------------------------------------


@pytest.mark.parametrize(
    ("battery", "expected"),
    [
        (None, None),
        (SimpleNamespace(percent=50, secsleft=-2, power_plugged=True), False),
        (SimpleNamespace(percent=50, secsleft=3600, power_plugged=False), True),
        (SimpleNamespace(percent=50, secsleft=-2, power_plugged=None), None),
    ],
)
def test_on_battery(
    monkeypatch: pytest.MonkeyPatch, battery: object, expected: bool | None
) -> None:
    monkeypatch.setattr(psutil, "sensors_battery", lambda: battery)
    assert idle.on_battery() is expected


def test_probes_never_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_args: object, **_kwargs: object) -> object:
        raise RuntimeError("firmware says no")

    monkeypatch.setattr(psutil, "sensors_battery", boom)
    monkeypatch.setattr(psutil, "process_iter", boom)
    monkeypatch.setattr(idle, "x11_idle_seconds", boom)
    monkeypatch.setattr(idle, "x11_fullscreen", boom)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("XDG_SESSION_TYPE", raising=False)
    assert idle.collect_facts(61) == PolicyFacts(gpu_temp_c=61)


def test_real_battery_and_processes() -> None:
    assert idle.on_battery() in (True, False, None)
    names = idle.running_process_names()
    assert names is not None
    assert psutil.Process(os.getpid()).name().lower() in names
    assert all(name == name.lower() for name in names)


def test_collect_facts_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    facts = idle.collect_facts(gpu_temp_c=55)
    assert facts.idle_seconds is None and facts.fullscreen is None  # no display here
    assert facts.gpu_temp_c == 55 and facts.running_processes
