"""The servers behind the tunnel: a byte sink and a tiny HTTP/1.1 keep-alive server.

Both run on the benchmark's event loop and listen on 127.0.0.1 (a free port).

Sink protocol (one transfer at a time per connection, any number in a row): the client sends
an 8-byte big-endian length N, then N bytes; once the sink has received all N it answers with
the 8-byte big-endian count it received. The client's clock stops on that answer, so a
transfer is timed to the server-confirmed receipt of its last byte.
"""

from __future__ import annotations

import asyncio
import contextlib

from .tunnels import Address

HEADER_BYTES = 8
_SINK_BUFFER = 1 << 20

HTTP_BODY = b"ok from the bench server\n"
HTTP_RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/plain\r\n"
    b"Content-Length: " + str(len(HTTP_BODY)).encode() + b"\r\n"
    b"\r\n" + HTTP_BODY
)
_MAX_HEAD = 16 * 1024


class _SinkProtocol(asyncio.BufferedProtocol):
    """Counts bytes into a reused buffer (no copies); acknowledges each complete transfer."""

    def __init__(self) -> None:
        self._buffer = memoryview(bytearray(_SINK_BUFFER))
        self._transport: asyncio.Transport | None = None
        self._header = bytearray()
        self._expected: int | None = None
        self._received = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        data = self._buffer[:nbytes]
        while data:
            if self._expected is None:
                need = HEADER_BYTES - len(self._header)
                self._header += data[:need]
                data = data[need:]
                if len(self._header) < HEADER_BYTES:
                    return
                self._expected = int.from_bytes(self._header, "big")
                self._received = 0
                self._header.clear()
            take = min(len(data), self._expected - self._received)
            self._received += take
            data = data[take:]
            if self._received == self._expected:
                assert self._transport is not None
                self._transport.write(self._received.to_bytes(HEADER_BYTES, "big"))
                self._expected = None

    def eof_received(self) -> bool | None:
        return None  # close our side too


class HttpHandler:
    """An HTTP/1.1 server on asyncio streams: every request gets ``HTTP_RESPONSE``; connections
    stay open (keep-alive) until the client closes them. Pipelined requests are answered in
    order. Request bodies announced by Content-Length are read and ignored."""

    def __init__(self) -> None:
        self.requests = 0

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                if length:
                    await reader.readexactly(length)
                self.requests += 1
                writer.write(HTTP_RESPONSE)
                await writer.drain()  # returns at once unless the client stopped reading
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


class BenchServers:
    """The sink and the HTTP server, started together on loopback."""

    def __init__(self) -> None:
        self._sink: asyncio.Server | None = None
        self._http: asyncio.Server | None = None
        self.http_handler = HttpHandler()

    @property
    def sink_address(self) -> Address:
        """Where the sink listens."""
        assert self._sink is not None, "start() first"
        return _address(self._sink)

    @property
    def http_address(self) -> Address:
        """Where the HTTP server listens."""
        assert self._http is not None, "start() first"
        return _address(self._http)

    async def start(self) -> None:
        """Listen on two free loopback ports."""
        loop = asyncio.get_running_loop()
        self._sink = await loop.create_server(_SinkProtocol, "127.0.0.1", 0)
        self._http = await asyncio.start_server(self.http_handler, "127.0.0.1", 0, limit=_MAX_HEAD)

    async def stop(self) -> None:
        """Stop listening (open connections are closed by their clients)."""
        for server in (self._sink, self._http):
            if server is not None:
                server.close()
        for server in (self._sink, self._http):
            if server is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(server.wait_closed(), 5)
        self._sink = self._http = None


def _address(server: asyncio.Server) -> Address:
    host, port = server.sockets[0].getsockname()[:2]
    return str(host), int(port)
