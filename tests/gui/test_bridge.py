"""EngineBridge runs the real Node (real settings file, real hardware probe) on its thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6")

from pytestqt.qtbot import QtBot  # noqa: E402

from fizz_app.core.errors import UserFacingError  # noqa: E402
from fizz_app.core.events import Event, HardwareChecked  # noqa: E402
from fizz_app.core.node import Node  # noqa: E402
from fizz_app.core.state import NodeSnapshot, NodeStatus  # noqa: E402
from fizz_app.gui import bridge as bridge_module  # noqa: E402
from fizz_app.gui.bridge import EngineBridge, EngineNotRunning  # noqa: E402

pytestmark = pytest.mark.gui

MakeBridge = Callable[..., EngineBridge]
START_TIMEOUT_MS = 15_000


def _engine_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "fizz-engine"]


def test_start_emits_devnet_snapshot_and_stop_joins(qtbot: QtBot, make_bridge: MakeBridge) -> None:
    bridge = make_bridge()
    with qtbot.waitSignal(bridge.sig_snapshot, timeout=START_TIMEOUT_MS) as blocker:
        bridge.start()
    snapshot = blocker.args[0]
    assert isinstance(snapshot, NodeSnapshot)
    assert snapshot.verdict is not None and snapshot.hardware is not None
    assert snapshot.verdict.profile == "devnet"
    assert snapshot.verdict.meets_minimum
    assert snapshot.status is NodeStatus.OFFLINE
    assert bridge.is_ready and bridge.is_running

    assert bridge.stop()
    assert not bridge.is_running
    assert not bridge.is_ready
    assert not _engine_threads()


def test_stop_before_start_and_twice_is_harmless(make_bridge: MakeBridge) -> None:
    bridge = make_bridge()
    assert bridge.stop()
    assert bridge.stop()


def test_stop_right_after_start_is_not_lost(make_bridge: MakeBridge) -> None:
    # stop() may land before the engine loop exists; the engine must still see it.
    bridge = make_bridge()
    bridge.start()
    assert bridge.stop(timeout=10.0)
    assert not bridge.is_running


def test_submit_returns_the_command_result(qtbot: QtBot, make_bridge: MakeBridge) -> None:
    bridge = make_bridge()
    with qtbot.waitSignal(bridge.sig_snapshot, timeout=START_TIMEOUT_MS):
        bridge.start()

    async def engine_thread_name(node: Node) -> str:
        return threading.current_thread().name

    with qtbot.waitSignal(bridge.sig_command_finished) as finished:
        future = bridge.submit(engine_thread_name)
    assert finished.args == [future]
    assert future.result(timeout=1) == "fizz-engine"


def test_user_facing_error_emits_command_failed(qtbot: QtBot, make_bridge: MakeBridge) -> None:
    bridge = make_bridge()
    with qtbot.waitSignal(bridge.sig_snapshot, timeout=START_TIMEOUT_MS):
        bridge.start()

    async def fail(node: Node) -> None:
        raise UserFacingError("The gateway refused the node.", "Pick another gateway.")

    with qtbot.waitSignal(bridge.sig_command_failed) as blocker:
        future = bridge.submit(fail)
    assert blocker.args == ["The gateway refused the node. Pick another gateway."]
    with pytest.raises(UserFacingError, match="refused"):
        future.result(timeout=1)
    assert bridge.is_ready  # a failed command does not stop the engine


def test_unexpected_error_is_logged_and_reported_generically(
    qtbot: QtBot, make_bridge: MakeBridge, caplog: pytest.LogCaptureFixture
) -> None:
    bridge = make_bridge()
    with qtbot.waitSignal(bridge.sig_snapshot, timeout=START_TIMEOUT_MS):
        bridge.start()

    async def crash(node: Node) -> None:
        raise KeyError("secret internals")

    with caplog.at_level(logging.ERROR, logger="fizz_app.gui.bridge"):
        with qtbot.waitSignal(bridge.sig_command_failed) as blocker:
            bridge.submit(crash)
    text = blocker.args[0]
    assert text.startswith("Unexpected error: KeyError")
    assert "secret internals" not in text
    assert any(record.exc_info for record in caplog.records)


def test_submit_before_start_fails_with_engine_not_running(
    qtbot: QtBot, make_bridge: MakeBridge
) -> None:
    bridge = make_bridge()

    async def noop(node: Node) -> None:
        return None

    with qtbot.waitSignal(bridge.sig_command_failed) as blocker:
        future = bridge.submit(noop)
    assert "not running" in blocker.args[0]
    with pytest.raises(EngineNotRunning):
        future.result(timeout=0)


class _InstantAsyncio:
    """The ``asyncio`` module as the bridge sees it, except that a command submitted to the
    engine loop has finished before ``run_coroutine_threadsafe`` returns: ``submit()`` then adds
    its done-callback to a done future, which runs it at once on the caller's (GUI) thread."""

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    @staticmethod
    def run_coroutine_threadsafe(
        coroutine: Coroutine[Any, Any, Any], loop: asyncio.AbstractEventLoop
    ) -> concurrent.futures.Future[Any]:
        future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        concurrent.futures.wait([future], timeout=10)
        assert future.done()
        return future


class _Caller:
    """A page that stores the future submit() returns and matches it in its slots, with no
    ``future.done()`` workaround."""

    def __init__(self, bridge: EngineBridge) -> None:
        self.bridge = bridge
        self.future: concurrent.futures.Future[Any] | None = None
        self.finished: list[bool] = []  # per sig_command_finished: was it our stored future?
        self.failed: list[bool] = []  # per sig_command_failed: was our future stored by then?
        bridge.sig_command_finished.connect(self._on_bridge_command_finished)
        bridge.sig_command_failed.connect(self._on_bridge_command_failed)

    def run(self, command: Callable[[Node], Any]) -> None:
        self.future = self.bridge.submit(command)

    def _on_bridge_command_finished(self, future: concurrent.futures.Future[Any]) -> None:
        self.finished.append(future is self.future)

    def _on_bridge_command_failed(self, text: str) -> None:
        self.failed.append(self.future is not None)


@pytest.mark.parametrize("engine", ["running", "not started"])
@pytest.mark.parametrize("outcome", ["result", "error"])
def test_a_command_done_before_submit_returns_is_announced_after_it(
    qtbot: QtBot,
    make_bridge: MakeBridge,
    monkeypatch: pytest.MonkeyPatch,
    engine: str,
    outcome: str,
) -> None:
    # The race: a future done before submit() added its callback used to emit
    # sig_command_finished synchronously, inside submit(), before the caller stored the future.
    bridge = make_bridge()
    if engine == "running":
        with qtbot.waitSignal(bridge.sig_snapshot, timeout=START_TIMEOUT_MS):
            bridge.start()
        monkeypatch.setattr(bridge_module, "asyncio", _InstantAsyncio())
    caller = _Caller(bridge)

    async def instant(node: Node) -> int:
        if outcome == "error":
            raise UserFacingError("The gateway refused the node.", "Pick another gateway.")
        return 7

    caller.run(instant)
    assert caller.future is not None and caller.future.done()  # finished before submit returned
    assert caller.finished == [] and caller.failed == []  # nothing emitted inside submit()
    qtbot.waitUntil(lambda: bool(caller.finished))
    assert caller.finished == [True]
    failed = outcome == "error" or engine == "not started"
    assert caller.failed == ([True] if failed else [])
    if not failed:
        assert caller.future.result(timeout=0) == 7


def test_events_are_relayed_in_order_with_a_snapshot_after(
    qtbot: QtBot, make_bridge: MakeBridge
) -> None:
    bridge = make_bridge()
    with qtbot.waitSignal(bridge.sig_snapshot, timeout=START_TIMEOUT_MS) as first:
        bridge.start()
    events: list[Event] = []
    bridge.sig_event.connect(events.append)
    snapshots: list[NodeSnapshot] = []
    bridge.sig_snapshot.connect(snapshots.append)

    with qtbot.waitSignal(
        bridge.sig_event,
        timeout=START_TIMEOUT_MS,
        check_params_cb=lambda event: isinstance(event, HardwareChecked),
    ):
        bridge.submit(lambda node: node.check_hardware())
    qtbot.waitUntil(lambda: bool(snapshots) and snapshots[-1].seq >= events[-1].seq)
    seqs = [event.seq for event in events]
    assert seqs == sorted(seqs) and seqs[0] > first.args[0].seq
    assert snapshots[-1].checked_at is not None
    assert snapshots[-1].checked_at >= (first.args[0].checked_at or 0.0)


def test_bad_settings_file_emits_engine_failed_and_keeps_the_file(
    qtbot: QtBot, make_bridge: MakeBridge, gui_home: Path
) -> None:
    settings = gui_home / "settings.json"
    settings.write_text('{"netwrok": 1}', encoding="utf-8")
    before = settings.read_bytes()
    bridge = make_bridge()

    with qtbot.waitSignal(bridge.sig_engine_failed, timeout=START_TIMEOUT_MS) as blocker:
        bridge.start()
    assert "'netwrok'" in blocker.args[0]
    assert bridge.stop()
    assert not bridge.is_ready
    assert settings.read_bytes() == before
    assert sorted(path.name for path in gui_home.glob("settings*")) == ["settings.json"]
