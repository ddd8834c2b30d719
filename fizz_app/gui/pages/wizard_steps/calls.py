"""Engine commands whose outcome comes back on the GUI thread, as a callback.

:meth:`EngineCalls.call` submits a command through the bridge and, once it is done, calls
``on_done(result)`` or ``on_error(text)`` on the GUI thread (the bridge's
``sig_command_finished`` is queued there). Nothing ever blocks on the future.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Awaitable, Callable
from typing import Any

from PySide6.QtCore import QObject

from ....core.node import Node
from ...bridge import EngineBridge, describe_error

__all__ = ["EngineCalls"]

Done = Callable[[Any], None]
Failed = Callable[[str], None]


class EngineCalls(QObject):
    """Runs engine commands for one page and routes their outcomes to its callbacks.

    Args:
        bridge: the engine bridge.
        parent: the page; its callbacks are not called after it is deleted.
    """

    def __init__(self, bridge: EngineBridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._pending: dict[int, tuple[concurrent.futures.Future[Any], Done, Failed | None]] = {}
        bridge.sig_command_finished.connect(self._on_bridge_command_finished)

    # ---- Public API

    def call(
        self,
        command: Callable[[Node], Awaitable[Any]],
        on_done: Done,
        on_error: Failed | None = None,
    ) -> concurrent.futures.Future[Any]:
        """Submit ``command``; ``on_done(result)`` or ``on_error(text)`` follows on the GUI
        thread. Without ``on_error`` a failure only reaches the bridge's ``sig_command_failed``.
        """
        future = self._bridge.submit(command)
        self._pending[id(future)] = (future, on_done, on_error)
        if future.done():  # failed at once (engine not running): the signal may have passed
            self._finish(future)
        return future

    @property
    def busy(self) -> bool:
        """True while a command of this page runs."""
        return bool(self._pending)

    # ---- Private API

    def _on_bridge_command_finished(self, future: concurrent.futures.Future[Any]) -> None:
        self._finish(future)

    def _finish(self, future: concurrent.futures.Future[Any]) -> None:
        entry = self._pending.pop(id(future), None)
        if entry is None or entry[0] is not future:
            return
        _, on_done, on_error = entry
        if future.cancelled():
            if on_error is not None:
                on_error("The command was cancelled.")
            return
        error = future.exception()
        if error is None:
            on_done(future.result())
        elif on_error is not None:
            on_error(describe_error(error))
