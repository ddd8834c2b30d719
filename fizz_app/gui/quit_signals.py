"""Quitting the app cleanly on SIGTERM and SIGINT (a logout, ``kill``, Ctrl-C in a terminal).

Python runs signal handlers only between bytecodes, and Qt's event loop runs in C++: a handler
set with :func:`signal.signal` alone would wait for the next Python callback, which in an idle
app may never come. So the signal is also written to a socket (:func:`signal.set_wakeup_fd`)
that a :class:`QSocketNotifier` watches: the event loop wakes at once, the handler runs, and
the app quits through ``QApplication.quit`` (the engine drains and leases close) instead of
dying mid-write. Nothing polls, so an idle app stays idle.
"""

from __future__ import annotations

import contextlib
import signal
import socket
from collections.abc import Callable

from PySide6.QtCore import QObject, QSocketNotifier

__all__ = ["QuitOnSignals"]


class QuitOnSignals(QObject):
    """Call ``quit`` when the process gets SIGTERM or SIGINT; :meth:`close` undoes it.

    Use it from the main thread, once the QApplication exists::

        signals = QuitOnSignals(app.quit, parent=app)
        app.aboutToQuit.connect(signals.close)
    """

    def __init__(self, quit: Callable[[], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._quit = quit
        self._reader, self._writer = socket.socketpair()
        for end in (self._reader, self._writer):
            end.setblocking(False)
        self._previous_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        self._previous = {
            signum: signal.signal(signum, self._on_signal)
            for signum in (signal.SIGTERM, signal.SIGINT)
        }
        self._notifier = QSocketNotifier(self._reader.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._on_wakeup)
        self._closed = False

    def _on_signal(self, signum: int, frame: object) -> None:
        self._quit()

    def _on_wakeup(self) -> None:
        # Only drain: Python has already queued the handler, which runs right after this slot.
        with contextlib.suppress(OSError):
            while self._reader.recv(64):
                pass

    def close(self) -> None:
        """Restore the previous handlers (a second Ctrl-C while draining ends the process the
        default way, which a user pressing it twice expects)."""
        if self._closed:
            return
        self._closed = True
        self._notifier.setEnabled(False)
        signal.set_wakeup_fd(self._previous_fd)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._reader.close()
        self._writer.close()
