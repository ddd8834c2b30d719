"""One app per data folder: a second launch asks the running one to show its window, then exits.

The running app listens on a local socket (a Unix socket, a named pipe on Windows) whose name
is derived from the data folder, so instances with different ``FIZZ_HOME`` folders (tests, a
second profile) never meet. Use it before building anything heavy::

    instance = SingleInstance()
    if instance.ask_running_to_raise():
        return 0                                  # the other app shows its window
    instance.listen()                             # raises SingleInstanceError when it cannot
    instance.sig_raise_requested.connect(window.bring_to_front)
"""

from __future__ import annotations

import getpass
import hashlib
import logging
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QAbstractSocket, QLocalServer, QLocalSocket

from ..core import paths
from ..core.errors import UserFacingError

__all__ = ["SingleInstance", "SingleInstanceError", "instance_key", "RAISE"]

log = logging.getLogger(__name__)

RAISE = b"raise\n"
"""What a second launch sends: show and raise the window."""

_CONNECT_MS = 1000


class SingleInstanceError(UserFacingError):
    """The app cannot claim its single-instance socket."""


def instance_key(data_dir: Path | None = None) -> str:
    """The local socket name for ``data_dir`` (the app's data folder by default)."""
    folder = (data_dir or paths.data_dir()).expanduser().resolve()
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name (some containers): the folder still separates
        user = ""
    digest = hashlib.sha256(f"{user}\0{folder}".encode()).hexdigest()[:20]
    return f"fizz-node-{digest}"


class SingleInstance(QObject):
    """The single-instance guard for one data folder.

    Args:
        key: the socket name; :func:`instance_key` of the data folder by default.
        parent: the usual Qt parent.
    """

    # ---- Signals

    sig_raise_requested = Signal()
    """Another launch asked this app to show and raise its window."""

    def __init__(self, key: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._key = key or instance_key()
        self._server: QLocalServer | None = None

    # ---- Public API

    @property
    def key(self) -> str:
        return self._key

    @property
    def is_listening(self) -> bool:
        return self._server is not None and self._server.isListening()

    def ask_running_to_raise(self) -> bool:
        """Ask the app already running on this data folder to raise its window.

        Returns:
            True when one answered: this process should exit (code 0). False when none runs.
        """
        socket = QLocalSocket()
        socket.connectToServer(self._key)
        if not socket.waitForConnected(_CONNECT_MS):
            return False
        socket.write(RAISE)
        socket.flush()
        sent = socket.waitForBytesWritten(_CONNECT_MS) or socket.bytesToWrite() == 0
        socket.disconnectFromServer()
        if socket.state() is not QLocalSocket.LocalSocketState.UnconnectedState:
            socket.waitForDisconnected(_CONNECT_MS)
        log.info("Fizz Node is already running for this data folder; asked it to show itself")
        return sent

    def listen(self) -> None:
        """Start answering later launches (call after :meth:`ask_running_to_raise` said
        False). A socket left behind by a crashed app is removed and claimed.

        Raises:
            SingleInstanceError: the socket cannot be created.
        """
        if self.is_listening:
            return
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self._key):
            if server.serverError() is QAbstractSocket.SocketError.AddressInUseError:
                # Nobody answered on it (ask_running_to_raise came first): a stale socket.
                QLocalServer.removeServer(self._key)
            if not server.listen(self._key):
                raise SingleInstanceError(
                    f"Fizz Node cannot open its local control socket ({server.errorString()}).",
                    "Close other copies of Fizz Node, or restart the computer, then try again.",
                )
        server.newConnection.connect(self._on_server_new_connection)
        self._server = server
        log.info("listening for later launches on %s", self._key)

    def close(self) -> None:
        """Stop answering (at quit); the socket file is removed."""
        if self._server is not None:
            self._server.close()
            self._server = None

    # ---- Private API

    def _on_server_new_connection(self) -> None:
        server = self._server
        while server is not None and server.hasPendingConnections():
            socket = server.nextPendingConnection()
            # Messages are one short line sent at once: wait briefly for it here rather than
            # keep per-socket slots alive (a stray connection cannot hold the app for long).
            if socket.bytesAvailable() or socket.waitForReadyRead(_CONNECT_MS):
                self._read_messages(socket)
            socket.abort()
            socket.deleteLater()

    def _read_messages(self, socket: QLocalSocket) -> None:
        while socket.canReadLine() or (socket.bytesAvailable() and socket.waitForReadyRead(50)):
            line = bytes(socket.readLine().data())
            if line == RAISE:
                log.info("another launch asked to show the window")
                self.sig_raise_requested.emit()
            elif line:
                log.warning("ignored an unknown single-instance message %r", line[:40])
