"""Start Fizz Node when the user logs in: one entry per OS, really created and removed.

- Linux (and other XDG desktops): ``$XDG_CONFIG_HOME/autostart/fizz-node.desktop`` (default
  ``~/.config/autostart``), the freedesktop "Desktop Application Autostart" file.
- Windows: the ``FizzNode`` value under ``HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run``.
- macOS: the LaunchAgent ``~/Library/LaunchAgents/network.fizz.node.plist`` with ``RunAtLoad``.

Call :func:`enable_autostart` with the command that starts the app (:func:`app_command` gives
the usual one), :func:`disable_autostart` to remove the entry, :func:`autostart_enabled` to show
the current state. Files are written atomically. The pure helpers (:func:`desktop_entry`,
:func:`launch_agent_plist`, :func:`windows_command_line`) build each OS's entry and are what
tests check on the other platforms.
"""

from __future__ import annotations

import os
import plistlib
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from .atomic import write_atomic
from .errors import UserFacingError

__all__ = [
    "APP_TITLE",
    "DESKTOP_FILE_NAME",
    "LAUNCH_AGENT_LABEL",
    "RUN_VALUE_NAME",
    "AutostartError",
    "app_command",
    "autostart_enabled",
    "desktop_entry",
    "disable_autostart",
    "enable_autostart",
    "entry_location",
    "launch_agent_plist",
    "windows_command_line",
]

APP_TITLE = "Fizz Node"
DESKTOP_FILE_NAME = "fizz-node.desktop"
"""The XDG autostart file's name."""
LAUNCH_AGENT_LABEL = "network.fizz.node"
"""The macOS LaunchAgent's label (and the plist's file stem)."""
RUN_VALUE_NAME = "FizzNode"
"""The value's name under the Windows ``Run`` key."""
_RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
_ICON_NAME = "fizz-node"
"""The icon theme name the Linux installer installs the app's icon under."""


class AutostartError(UserFacingError):
    """The login entry could not be written or removed (the message says where)."""


# ---- Pure builders ------------------------------------------------------------------------------


def _desktop_quote(argument: str) -> str:
    # Desktop Entry Specification, "The Exec key": an argument with reserved characters is
    # quoted in double quotes, and inside them ", `, $ and \ are escaped with a backslash; a
    # literal % is doubled. The .desktop string escaping then doubles every backslash again.
    if argument and not any(c in argument for c in " \t\n\"'\\><~|&;$*?#()`%"):
        return argument
    escaped = "".join("\\" + c if c in '"`$\\' else c for c in argument).replace("%", "%%")
    return '"' + escaped.replace("\\", "\\\\") + '"'


def desktop_entry(command: Sequence[str], *, title: str = APP_TITLE) -> str:
    """The XDG autostart ``.desktop`` file's text for ``command``."""
    if not command:
        raise ValueError("the autostart command is empty")
    exec_line = " ".join(_desktop_quote(argument) for argument in command)
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        f"Name={title}\n"
        "Comment=Lend this computer's idle time to the Fizz network\n"
        f"Exec={exec_line}\n"
        f"Icon={_ICON_NAME}\n"
        "Terminal=false\n"
        "X-GNOME-Autostart-enabled=true\n"
    )


def launch_agent_plist(command: Sequence[str]) -> bytes:
    """The macOS LaunchAgent plist (XML) that runs ``command`` at login, once."""
    if not command:
        raise ValueError("the autostart command is empty")
    agent = {
        "Label": LAUNCH_AGENT_LABEL,
        "ProgramArguments": list(command),
        "RunAtLoad": True,
        "KeepAlive": False,
        "ProcessType": "Interactive",
    }
    return plistlib.dumps(agent, fmt=plistlib.FMT_XML)


def windows_command_line(command: Sequence[str]) -> str:
    """``command`` as one Windows command line (the ``Run`` value), quoted the way the C
    runtime's argument parser reads it back (``subprocess.list2cmdline``)."""
    if not command:
        raise ValueError("the autostart command is empty")
    return subprocess.list2cmdline(list(command))


def app_command(*, minimized: bool = False) -> list[str]:
    """The command that starts the desktop app: the bundled executable when frozen, else this
    Python running ``-m fizz_app gui``. ``minimized`` adds ``--minimized`` (start in the
    tray, the window hidden)."""
    if getattr(sys, "frozen", False):
        command = [sys.executable]
    else:
        command = [sys.executable, "-m", "fizz_app", "gui"]
    return [*command, "--minimized"] if minimized else command


# ---- Where the entry lives ---------------------------------------------------------------------


def _platform() -> str:
    if sys.platform == "win32":
        return "windows"
    if sys.platform == "darwin":
        return "macos"
    return "xdg"


def _desktop_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME", "").strip()
    config = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return config / "autostart" / DESKTOP_FILE_NAME


def _plist_path() -> Path:
    return Path.home() / "Library" / "LaunchAgents" / f"{LAUNCH_AGENT_LABEL}.plist"


def entry_location() -> str:
    """Where this OS keeps the entry: a file path, or the registry value's full name."""
    kind = _platform()
    if kind == "windows":
        return f"HKEY_CURRENT_USER\\{_RUN_KEY}\\{RUN_VALUE_NAME}"
    return str(_plist_path() if kind == "macos" else _desktop_path())


# ---- Side effects ------------------------------------------------------------------------------


def autostart_enabled() -> bool:
    """Whether Fizz Node starts at login for this user."""
    kind = _platform()
    if kind == "windows":
        return _windows_read() is not None
    return (_plist_path() if kind == "macos" else _desktop_path()).is_file()


def enable_autostart(command: Sequence[str]) -> Path | str:
    """Create (or replace) the login entry that runs ``command``; returns where it is (the
    file, or the registry value's name on Windows).

    Raises:
        AutostartError: the file or registry value cannot be written.
    """
    kind = _platform()
    try:
        if kind == "windows":
            _windows_write(windows_command_line(command))
            return entry_location()
        path = _plist_path() if kind == "macos" else _desktop_path()
        data = launch_agent_plist(command) if kind == "macos" else desktop_entry(command).encode()
        write_atomic(path, data, mode=0o644)
        return path
    except OSError as error:
        raise AutostartError(
            f"Fizz Node could not be set to start at login ({entry_location()}: "
            f"{error.strerror or error}).",
            "Check that you may write to that location, then try again.",
        ) from None


def disable_autostart() -> None:
    """Remove the login entry; nothing happens when there is none.

    Raises:
        AutostartError: the entry exists but cannot be removed.
    """
    kind = _platform()
    try:
        if kind == "windows":
            _windows_delete()
        else:
            (_plist_path() if kind == "macos" else _desktop_path()).unlink(missing_ok=True)
    except OSError as error:
        raise AutostartError(
            f"Fizz Node could not stop starting at login ({entry_location()}: "
            f"{error.strerror or error}).",
            "Remove that entry by hand, or check its permissions.",
        ) from None


def _windows_read() -> str | None:
    import winreg  # Windows only

    try:
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, _RUN_KEY) as key:  # type: ignore[attr-defined,unused-ignore]
            value, _ = winreg.QueryValueEx(key, RUN_VALUE_NAME)  # type: ignore[attr-defined,unused-ignore]
    except FileNotFoundError:
        return None
    return str(value)


def _windows_write(command_line: str) -> None:
    import winreg  # Windows only

    with winreg.CreateKey(winreg.HKEY_CURRENT_USER, _RUN_KEY) as key:  # type: ignore[attr-defined,unused-ignore]
        winreg.SetValueEx(key, RUN_VALUE_NAME, 0, winreg.REG_SZ, command_line)  # type: ignore[attr-defined,unused-ignore]


def _windows_delete() -> None:
    import winreg  # Windows only

    try:
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, _RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:  # type: ignore[attr-defined,unused-ignore]
            winreg.DeleteValue(key, RUN_VALUE_NAME)  # type: ignore[attr-defined,unused-ignore]
    except FileNotFoundError:
        pass
