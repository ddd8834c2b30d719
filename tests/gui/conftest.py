"""Fixtures for the GUI tests: offscreen Qt, a private data folder, bridges that always stop."""

from __future__ import annotations

import os

# Before anything imports Qt: with no display and no platform set, QApplication aborts.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import importlib.util  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

import pytest  # noqa: E402

if TYPE_CHECKING:
    from fizz_app.gui.bridge import EngineBridge

if importlib.util.find_spec("PySide6") is None:
    # A machine without Qt still runs the rest of the suite; each module also importorskips.
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture
def gui_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data folder used as FIZZ_HOME for the test."""
    monkeypatch.setenv("FIZZ_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def make_bridge(gui_home: Path) -> Iterator[Callable[..., EngineBridge]]:
    """Return a factory of real (unstarted) bridges; every one is stopped after the test."""
    from fizz_app.gui.bridge import EngineBridge

    bridges: list[EngineBridge] = []

    def make(**kwargs: Any) -> EngineBridge:
        bridge = EngineBridge(**kwargs)
        bridges.append(bridge)
        return bridge

    yield make
    for bridge in bridges:
        assert bridge.stop(timeout=10.0), "the engine thread did not stop"
        assert not bridge.is_running
