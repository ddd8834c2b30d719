"""``fizz-node limits show | set``, run as the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(sys.executable).with_name("fizz-node")


def fizz(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FIZZ_HOME": str(home)}
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=60)


def limits(home: Path, *args: str) -> dict[str, Any]:
    result = fizz(home, "limits", *args, "--json")
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_show_json_shape_and_defaults(fizz_home: Path) -> None:
    data = limits(fizz_home, "show")
    assert set(data) == {"limits", "schedule_text", "offered", "present"}
    policy = data["limits"]
    assert policy["cpu_threads"] is None and policy["gpu"] is True
    assert policy["idle_only"] is True and policy["on_pause"] == "finish"
    assert data["schedule_text"] == []
    assert set(data["offered"]) == {
        "cpu_threads",
        "memory_gb",
        "storage_gb",
        "gpu_units",
        "gpu_model",
    }
    for key in ("cpu_threads", "memory_gb", "storage_gb", "gpu_units"):
        assert 0 <= data["offered"][key] <= data["present"][key]
    assert not (fizz_home / "settings.json").exists()


def test_show_text_is_readable(fizz_home: Path) -> None:
    result = fizz(fizz_home, "limits", "show")
    assert result.returncode == 0, result.stderr
    for words in ("CPU", "Idle only", "On battery", "Schedule     any time", "When paused"):
        assert words in result.stdout


def test_set_changes_only_the_given_limits(fizz_home: Path) -> None:
    data = limits(
        fizz_home,
        "set",
        "--cpu", "1",
        "--memory-gb", "1",
        "--storage-gb", "100000",
        "--gpu", "off",
        "--idle-only", "off",
        "--idle-minutes", "5",
        "--battery", "run",
        "--pause-programs", "steam, obs",
        "--fullscreen", "run",
        "--schedule", "mon-fri 18:00-08:00",
        "--schedule", "sat,sun 00:00-24:00",
        "--max-gpu-temp", "80",
        "--on-pause", "stop",
    )  # fmt: skip
    policy = data["limits"]
    assert policy["cpu_threads"] == 1 and policy["memory_gb"] == 1
    assert policy["gpu"] is False and policy["idle_only"] is False
    assert policy["idle_minutes"] == 5 and policy["pause_on_battery"] is False
    assert policy["pause_programs"] == ["steam", "obs"]
    assert policy["pause_on_fullscreen"] is False
    assert policy["max_gpu_temp_c"] == 80 and policy["on_pause"] == "stop"
    assert data["schedule_text"] == ["mon-fri 18:00-08:00", "sat-sun 00:00-24:00"]
    assert policy["schedule"][0] == {
        "days": ["mon", "tue", "wed", "thu", "fri"],
        "start": "18:00",
        "end": "08:00",
    }
    # Caps offer at most what is there: 100000 GB of storage is what the disk has.
    assert data["offered"]["cpu_threads"] == 1 and data["offered"]["memory_gb"] == 1
    assert data["offered"]["storage_gb"] == data["present"]["storage_gb"]
    assert data["offered"]["gpu_units"] == 0

    # A second change leaves the rest alone; 'all' and 'off' remove a cap or limit.
    data = limits(fizz_home, "set", "--cpu", "all", "--max-gpu-temp", "off", "--schedule-clear")
    policy = data["limits"]
    assert policy["cpu_threads"] is None and policy["max_gpu_temp_c"] is None
    assert policy["schedule"] == [] and policy["memory_gb"] == 1
    assert policy["pause_programs"] == ["steam", "obs"]
    saved = json.loads((fizz_home / "settings.json").read_text())
    assert saved["schema_version"] == 2 and saved["limits"] == policy


def test_schedule_separated_by_semicolons(fizz_home: Path) -> None:
    data = limits(fizz_home, "set", "--schedule", "fri-mon 22:00-06:00; daily 12:00-13:00")
    assert data["schedule_text"] == ["fri-mon 22:00-06:00", "daily 12:00-13:00"]


def test_set_prints_that_a_running_node_applies_it(fizz_home: Path) -> None:
    result = fizz(fizz_home, "limits", "set", "--idle-minutes", "10")
    assert result.returncode == 0, result.stderr
    assert "after 10 min without input" in result.stdout
    assert "A running node applies this within a few seconds." in result.stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--schedule", "mon-fry 18:00-08:00"), ["--schedule", "'fry' is not a day", "mon-fri"]),
        (("--schedule", "mon 25:00-08:00"), ["--schedule", "'25:00' is not a time", "HH:MM"]),
        (("--schedule", "weekends"), ["--schedule", "not a schedule window"]),
        (("--idle-minutes", "0"), ["--idle-minutes", "limits.idle_minutes", "greater than"]),
        (("--cpu", "-1"), ["--cpu", "limits.cpu_threads"]),
        (("--cpu", "four"), ["--cpu", "not a whole number", "'all'"]),
        (("--max-gpu-temp", "200"), ["--max-gpu-temp", "less than or equal to 120"]),
        (("--pause-programs", "/usr/bin/steam"), ["--pause-programs", "no folder"]),
        (("--gpu", "maybe"), ["--gpu", "invalid choice"]),
        (("--schedule", "mon 1:00-2:00", "--schedule-clear"), ["not allowed with"]),
        ((), ["Nothing to change"]),
    ],
)
def test_bad_values_exit_2_naming_the_option_and_save_nothing(
    fizz_home: Path, args: tuple[str, ...], words: list[str]
) -> None:
    limits(fizz_home, "set", "--cpu", "1")
    settings = fizz_home / "settings.json"
    before = settings.read_bytes()
    result = fizz(fizz_home, "limits", "set", *args)
    assert result.returncode == 2
    assert result.stdout == ""
    for word in words:
        assert word in result.stderr
    assert "Traceback" not in result.stderr
    assert settings.read_bytes() == before
