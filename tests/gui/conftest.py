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


# ---- A whole local network for the pages that go online ----------------------------------------


@pytest.fixture(scope="session")
def gui_chain(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The in-process chain with every contract, safe to share between the engine's thread,
    the gateway's thread and the test."""
    from tests.local_network import thread_safe_chain

    return thread_safe_chain(tmp_path_factory.mktemp("gui-chain"))


@pytest.fixture
def gui_gateway(gui_chain: Any, tmp_path: Path) -> Iterator[Any]:
    """The reference gateway on its own thread, published on ``gui_chain``."""
    from tests.local_network import BackgroundGateway

    with BackgroundGateway(gui_chain, tmp_path) as gateway:
        yield gateway


@pytest.fixture
def online_node_factory(gui_chain: Any, gui_gateway: Any, gui_home: Path) -> Any:
    """A node factory for ``make_bridge(node_factory=...)``: a registered keystore wallet in
    ``gui_home``, the real engine on the in-process chain and gateway, WebAssembly jobs.
    ``online_node_factory.address`` is the node's wallet address."""
    from fizz_app.core.node import Node
    from tests.local_network import registered_node_parts

    address, kwargs = registered_node_parts(gui_chain, gui_home)

    def factory() -> Node:
        return Node(**kwargs)

    factory.address = address  # type: ignore[attr-defined]
    return factory
