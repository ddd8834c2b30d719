"""Start at login: the XDG autostart file for real (XDG_CONFIG_HOME in a temp folder); the
macOS plist and the Windows command line as the pure functions that build them."""

from __future__ import annotations

import plistlib
import shlex
import sys
from pathlib import Path

import pytest

from fizz_app.core import autostart

linux_only = pytest.mark.skipif(
    sys.platform in ("win32", "darwin"),
    reason="the XDG .desktop entry is this platform's only; the registry (Windows) and "
    "launchd (macOS) side effects cannot run here, their entries are tested as pure text",
)


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    return tmp_path / "autostart" / autostart.DESKTOP_FILE_NAME


@linux_only
def test_enable_and_disable_create_and_remove_the_desktop_file(xdg: Path) -> None:
    assert not autostart.autostart_enabled()
    command = ["/opt/Fizz Node/fizz", "--flag", "100%"]
    assert autostart.enable_autostart(command) == xdg
    assert autostart.autostart_enabled()
    text = xdg.read_text()
    assert text.startswith("[Desktop Entry]\n")
    fields = dict(line.split("=", 1) for line in text.splitlines()[1:])
    assert fields["Type"] == "Application" and fields["Name"] == "Fizz Node"
    assert fields["Icon"] == "fizz-node"
    assert fields["X-GNOME-Autostart-enabled"] == "true"
    assert fields["Exec"] == '"/opt/Fizz Node/fizz" --flag "100%%"'
    assert xdg.stat().st_mode & 0o777 == 0o644
    autostart.enable_autostart(["fizz"])  # replacing is fine
    assert "Exec=fizz\n" in xdg.read_text()
    autostart.disable_autostart()
    assert not xdg.exists() and not autostart.autostart_enabled()
    autostart.disable_autostart()  # nothing to remove: no error


@linux_only
def test_default_config_home_and_an_unwritable_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert autostart.entry_location() == str(
        tmp_path / ".config" / "autostart" / "fizz-node.desktop"
    )
    (tmp_path / ".config").write_text("not a folder")
    with pytest.raises(autostart.AutostartError) as raised:
        autostart.enable_autostart(["fizz"])
    assert "start at login" in raised.value.message


def test_desktop_exec_quoting() -> None:
    entry = autostart.desktop_entry(["/usr/bin/python3", "-m", "fizz_app", "gui", 'a"b$c\\d'])
    exec_line = next(line for line in entry.splitlines() if line.startswith("Exec="))
    # The string escape doubles backslashes; the Exec quoting escapes " $ and \ inside quotes.
    assert exec_line == 'Exec=/usr/bin/python3 -m fizz_app gui "a\\\\"b\\\\$c\\\\\\\\d"'
    with pytest.raises(ValueError):
        autostart.desktop_entry([])


def test_launch_agent_plist() -> None:
    data = plistlib.loads(autostart.launch_agent_plist(["/Applications/Fizz Node.app/x", "-v"]))
    assert data["Label"] == autostart.LAUNCH_AGENT_LABEL
    assert data["ProgramArguments"] == ["/Applications/Fizz Node.app/x", "-v"]
    assert data["RunAtLoad"] is True and data["KeepAlive"] is False


def test_windows_command_line_quoting() -> None:
    line = autostart.windows_command_line(
        [r"C:\Program Files\Fizz Node\Fizz.exe", "--name", 'say "hi"', r"C:\dir\\"]
    )
    assert line == r'"C:\Program Files\Fizz Node\Fizz.exe" --name "say \"hi\"" C:\dir\\'
    assert autostart.windows_command_line(["fizz.exe"]) == "fizz.exe"


def test_app_command_runs_the_gui() -> None:
    command = autostart.app_command()
    assert command[0] == sys.executable
    assert command[1:] == ["-m", "fizz_app", "gui"] or getattr(sys, "frozen", False)
    assert autostart.app_command(minimized=True)[-1] == "--minimized"
    assert shlex.join(command)
