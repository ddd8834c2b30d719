"""The one connection between the Qt GUI and the asyncio engine (architecture.md 5.4).

:class:`EngineBridge` runs the :class:`~fizz_app.core.node.Node` under ``asyncio.run()`` on a
worker thread named ``fizz-engine`` and re-emits what the node says as Qt signals, which Qt
queues to receivers on the GUI thread. Widgets never call the node: they render
``sig_snapshot``, apply ``sig_event`` and send intents with :meth:`EngineBridge.submit`.

Typical use on the GUI thread::

    bridge = EngineBridge()
    bridge.sig_snapshot.connect(window._on_bridge_snapshot)   # connect first, then start
    bridge.start()
    future = bridge.submit(lambda node: node.check_hardware())
    ...
    bridge.stop()                                             # before the app exits
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Qt, Signal

from ..core import paths
from ..core.config import SettingsStore
from ..core.errors import UserFacingError
from ..core.events import Subscription
from ..core.node import Node

__all__ = [
    "EngineBridge",
    "EngineNotRunning",
    "NodeFactory",
    "SNAPSHOT_INTERVAL_S",
    "default_node_factory",
    "describe_error",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

NodeFactory = Callable[[], Node]
"""Builds the node; called once, on the engine thread."""

SNAPSHOT_INTERVAL_S = 0.5
"""Least time between two ``sig_snapshot`` emissions: snapshots are coalesced to ~2 per second."""


class EngineNotRunning(UserFacingError):
    """A command was submitted while the engine was starting, stopped or failed."""

    def __init__(self) -> None:
        super().__init__(
            "The node engine is not running.",
            "Wait a moment if Fizz Node is starting; otherwise restart Fizz Node.",
        )


def default_node_factory() -> Node:
    """Build the real node on the user's settings file and data folder."""
    return Node(store=SettingsStore(paths.settings_path()), data_dir=paths.data_dir())


def describe_error(error: BaseException) -> str:
    """Return the text to show the user for ``error``.

    A :class:`UserFacingError` is shown as it is (message and remedy); anything else is a bug,
    so the user gets its type only and the traceback goes to the log.
    """
    if isinstance(error, UserFacingError):
        return str(error)
    return f"Unexpected error: {type(error).__name__} (details are in the log file)."


async def _call(command: Callable[[Node], Awaitable[T]], node: Node) -> T:
    # The command itself is called here, on the engine thread, so that even its synchronous
    # part never runs on the GUI thread.
    return await command(node)


class EngineBridge(QObject):
    """Owns the engine thread and relays between the node and the GUI.

    Create it on the GUI thread, connect its signals, then :meth:`start` it. Call
    :meth:`stop` before the application exits and keep the bridge alive (give it no parent that
    may be deleted first) until :meth:`stop` has returned.

    Args:
        node_factory: builds the node on the engine thread; the real one by default. Tests pass
            a factory with their own store or probe.
        snapshot_interval: least seconds between two ``sig_snapshot`` emissions.
        parent: the usual Qt parent.
    """

    # ---- Signals

    sig_event = Signal(object)
    """A :class:`~fizz_app.core.events.Event`, in ``seq`` order."""
    sig_snapshot = Signal(object)
    """A :class:`~fizz_app.core.state.NodeSnapshot`: once when the engine is ready, then at most
    every ``snapshot_interval`` seconds after events."""
    sig_command_failed = Signal(str)
    """Text to show the user when a submitted command raised (see :func:`describe_error`)."""
    sig_command_finished = Signal(object)
    """The ``concurrent.futures.Future`` of a submitted command, once it is done (any outcome)."""
    sig_engine_failed = Signal(str)
    """Text to show the user when the engine could not start or stopped on an error."""
    _sig_outcome = Signal(object)
    # Internal: a done future, queued to the bridge's own thread (see _report_outcome).

    def __init__(
        self,
        node_factory: NodeFactory = default_node_factory,
        *,
        snapshot_interval: float = SNAPSHOT_INTERVAL_S,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._node_factory = node_factory
        self._snapshot_interval = snapshot_interval
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        # Guards the fields both threads touch, so that a stop() racing the engine's start-up
        # is never lost.
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._stop_requested = False
        self._node: Node | None = None
        # Engine thread only.
        self._snapshot_handle: asyncio.TimerHandle | None = None
        self._last_snapshot_at = float("-inf")
        # Queued even when emitted on the bridge's thread: the outcome of a command is always
        # announced from the event loop, after submit() has returned its future to the caller.
        self._sig_outcome.connect(self._on_outcome, Qt.ConnectionType.QueuedConnection)

    # ---- Public API

    def start(self) -> None:
        """Start the engine thread; returns at once. ``sig_snapshot`` follows when it is ready,
        or ``sig_engine_failed`` when it cannot start.

        Raises:
            RuntimeError: the bridge was started before (a bridge runs once).
        """
        if self._thread is not None:
            raise RuntimeError("this EngineBridge was already started; create a new one")
        self._thread = threading.Thread(target=self._run, name="fizz-engine", daemon=True)
        self._thread.start()

    @property
    def is_ready(self) -> bool:
        """True while the node is running and :meth:`submit` will reach it."""
        return self._ready.is_set()

    @property
    def is_running(self) -> bool:
        """True while the engine thread is alive (starting, ready or stopping)."""
        return self._thread is not None and self._thread.is_alive()

    def submit(self, command: Callable[[Node], Awaitable[T]]) -> concurrent.futures.Future[T]:
        """Run ``command(node)`` on the engine loop; safe to call from any thread.

        Do not block the GUI thread on the returned future: connect ``sig_command_finished``
        (or ``sig_command_failed``) instead. Both always come from the bridge thread's event
        loop after ``submit()`` has returned, even for a command that finished at once, so
        store the future and match it in the slot; no ``future.done()`` check is needed.
        When the engine is not ready the future fails at once with :class:`EngineNotRunning`.
        Failures are also emitted as ``sig_command_failed`` (just before ``sig_command_finished``).
        """
        with self._lock:
            loop, node = (self._loop, self._node) if self._ready.is_set() else (None, None)
        future: concurrent.futures.Future[T]
        if loop is None or node is None:
            future = concurrent.futures.Future()
            future.set_exception(EngineNotRunning())
        else:
            coroutine = _call(command, node)
            try:
                future = asyncio.run_coroutine_threadsafe(coroutine, loop)
            except RuntimeError:  # the loop closed between the check and the call
                coroutine.close()
                future = concurrent.futures.Future()
                future.set_exception(EngineNotRunning())
        future.add_done_callback(self._report_outcome)
        return future

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop the node and wait up to ``timeout`` seconds for the engine thread to end.

        Safe to call more than once, before :meth:`start`, or after the engine failed.

        Returns:
            True when the engine thread has ended (or never ran).
        """
        with self._lock:
            self._stop_requested = True
            loop, stop_event = self._loop, self._stop_event
        if loop is not None and stop_event is not None:
            try:
                loop.call_soon_threadsafe(stop_event.set)
            except RuntimeError:
                pass  # the loop already closed: the engine ended on its own
        if self._thread is None:
            return True
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("the engine thread did not stop within %.1f s", timeout)
            return False
        return True

    # ---- Private API (engine thread unless noted)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException:  # _main reports its own errors; this is a last resort
            log.exception("the engine thread crashed")

    async def _main(self) -> None:
        stop_event = asyncio.Event()
        with self._lock:
            self._loop = asyncio.get_running_loop()
            self._stop_event = stop_event
            if self._stop_requested:
                stop_event.set()
        try:
            async with self._node_factory() as node:
                # Subscribe before the first snapshot: every event after it is then delivered.
                async with node.subscribe() as events:
                    with self._lock:
                        self._node = node
                    self._ready.set()
                    self._emit_snapshot()
                    await self._pump_until_stopped(events, stop_event)
                    self._ready.clear()
        except Exception as error:
            if isinstance(error, UserFacingError):
                log.warning("the engine stopped: %s", error)
            else:
                log.exception("the engine stopped on an unexpected error")
            self.sig_engine_failed.emit(describe_error(error))
        finally:
            self._ready.clear()
            with self._lock:
                self._node = None
            if self._snapshot_handle is not None:
                self._snapshot_handle.cancel()
                self._snapshot_handle = None

    async def _pump_until_stopped(self, events: Subscription, stop_event: asyncio.Event) -> None:
        pump = asyncio.create_task(self._pump(events), name="fizz-bridge-pump")
        stopped = asyncio.create_task(stop_event.wait(), name="fizz-bridge-stop")
        try:
            done, _ = await asyncio.wait({pump, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            pump.cancel()
            stopped.cancel()
        if pump in done:
            pump.result()  # the pump only ends by raising: let _main report it

    async def _pump(self, events: Subscription) -> None:
        async for event in events:
            self.sig_event.emit(event)
            self._schedule_snapshot()

    def _schedule_snapshot(self) -> None:
        # Leading edge when idle, then at most one per interval; a burst of events that arrive
        # together yields one snapshot taken after all of them.
        if self._snapshot_handle is not None:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, self._last_snapshot_at + self._snapshot_interval - loop.time())
        self._snapshot_handle = loop.call_later(delay, self._emit_snapshot)

    def _emit_snapshot(self) -> None:
        self._snapshot_handle = None
        node = self._node
        if node is None:
            return
        self._last_snapshot_at = asyncio.get_running_loop().time()
        self.sig_snapshot.emit(node.snapshot())

    def _report_outcome(self, future: concurrent.futures.Future[Any]) -> None:
        # Runs on the engine thread, or on the caller's when the future was done before the
        # callback was added: either way only queue it, never emit the public signals here.
        self._sig_outcome.emit(future)

    def _on_outcome(self, future: concurrent.futures.Future[Any]) -> None:
        # The bridge's thread (the GUI thread), from its event loop.
        if not future.cancelled():
            error = future.exception()
            if error is not None:
                if isinstance(error, UserFacingError):
                    log.info("a command failed: %s", error)
                else:
                    log.error("a command failed", exc_info=error)
                self.sig_command_failed.emit(describe_error(error))
        self.sig_command_finished.emit(future)
