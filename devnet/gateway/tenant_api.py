"""The tenant API: where tenants hand the gateway their leases (the real gateway's port 8543).

The node-facing WebSocket server (``websockets``) parses only the opening handshake, never a
request body, so the tenant API is its own small HTTP/1.1 listener on asyncio streams. One
request per connection (``Connection: close``); bodies need ``Content-Length`` (at most
:data:`MAX_BODY`); the answer is JSON, errors as ``{"error": "..."}``. HTTPS with the
gateway's certificate when it has one, as on the real network (spheron-network.md §5.3, §6.1).

=====  ===============================================  =======================================
PUT    ``/deployment/<lease>/manifest[?node=0x…]``      body ``[{name, services: [...]}]``:
                                                        offer the lease, send the manifest
                                                        → ``{lease_id, node, state}``
GET    ``/lease/<lease>/status`` (or ``/1/1/status``)   ``{services, forwarded_ports, ...}``
GET    ``/lease/<lease>/logs?tail=N`` (or ``/1/1/``)    ``{lease_id, lines}`` (no ``follow``)
PUT    ``/lease/<lease>/close``                         devnet: the real network closes on
                                                        chain → ``{lease_id, node, state}``
GET    ``/status``, ``/healthz``                        as on the WebSocket port
=====  ===============================================  =======================================

``?node=0x…`` is a devnet extension: it names the node of a lease the chain does not have, and
picks one lease when two nodes report the same id; ``?price=N`` (token base units per block,
default 0) is what such a lease pays — the node refuses a price below its own. A lease on chain
carries its accepted price. Statuses: 400 bad request (JSON, manifest,
address, tail), 404 unknown lease or path, 405 wrong method, 409 rejected by the node (its
reason) or a lease conflict, 411 no ``Content-Length``, 413 body too large, 431 header too large,
503 node not connected or chain unreadable, 504 the node did not answer.

There is no tenant authentication (the real gateway checks an ``Auth-Spheron`` signature):
anyone who reaches this port can deploy and close leases, so it listens where the gateway does
(loopback by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from .deployments import DeploymentError, manifest_services
from .leases import Lease

__all__ = ["MAX_BODY", "MAX_HEAD", "TenantApi", "TenantBackend"]

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
"""Largest request body read (a manifest travels in one 64 KiB tunnel message anyway)."""
MAX_HEAD = 16 * 1024
"""Largest request line plus headers."""
READ_TIMEOUT_S = 15.0
"""A client must send its whole request within this."""
LINGER_S = 2.0
"""How long the rest of a refused request is read and dropped (see ``_linger``)."""
MAX_CLIENTS = 256
"""Connections served at once; more are closed at once."""
MAX_NESTING = 64
"""Deepest JSON nesting parsed. Checked before parsing: web3 raises the interpreter's recursion
limit to 100000, so a deeply nested body would overflow the C stack inside ``json.loads``
instead of raising RecursionError."""

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]")

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    411: "Length Required",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class TenantBackend(Protocol):
    """What the API asks of the gateway (:class:`~devnet.gateway.server.GatewayServer`)."""

    async def deploy(
        self,
        lease_id: str,
        services: Sequence[Mapping[str, Any]],
        *,
        node: str | None = None,
        price_per_block: str = ...,
    ) -> Lease: ...

    async def close_lease(
        self, lease_id: str, reason: str = ..., *, node: str | None = None
    ) -> Lease: ...

    async def lease_logs(
        self, lease_id: str, tail: int = ..., *, node: str | None = None
    ) -> list[str]: ...

    def lease_report(self, lease_id: str, *, node: str | None = None) -> dict[str, Any]: ...

    def status(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class _Request:
    method: str
    path: tuple[str, ...]
    query: dict[str, str]
    body: bytes


class _HttpError(Exception):
    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


class TenantApi:
    """The tenant HTTP listener.

    Args:
        backend: the gateway.
        host, port: where to listen (port 0 picks a free one).
        ssl_context: serve HTTPS with it; ``None`` serves HTTP.
        max_body: largest body accepted (larger: 413 without reading it).
    """

    def __init__(
        self,
        backend: TenantBackend,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_body: int = MAX_BODY,
    ) -> None:
        self.backend = backend
        self.host = host
        self.requested_port = port
        self.ssl_context = ssl_context
        self.max_body = max_body
        self._server: asyncio.Server | None = None
        self._bound_port: int | None = None
        self._clients: set[asyncio.Task[Any]] = set()

    @property
    def port(self) -> int:
        """The bound port (once started)."""
        if self._bound_port is None:
            raise RuntimeError("the tenant API is not started")
        return self._bound_port

    async def start(self) -> None:
        """Listen (on the same port again after a :meth:`stop`)."""
        self._server = await asyncio.start_server(
            self._serve,
            self.host,
            self._bound_port if self._bound_port is not None else self.requested_port,
            ssl=self.ssl_context,
            limit=MAX_HEAD,
        )
        self._bound_port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening and end the requests in progress."""
        if self._server is None:
            return
        self._server.close()
        for task in list(self._clients):
            task.cancel()
        if self._clients:
            await asyncio.wait(list(self._clients), timeout=5)
        await self._server.wait_closed()
        self._server = None

    # ---- Connections

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._clients) >= MAX_CLIENTS:
            writer.close()
            return
        self._clients.add(task)
        request: _Request | None = None
        try:
            try:
                request = await asyncio.wait_for(self._read(reader, writer), READ_TIMEOUT_S)
                status, body, headers = await self._route(request)
            except _HttpError as error:
                status, body, headers = error.status, {"error": error.message}, error.headers
            except TimeoutError:
                status, body, headers = 408, {"error": "the request took too long"}, {}
            except DeploymentError as error:
                status, body, headers = error.status, {"error": error.message}, {}
            except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
                return  # the client went away
            except Exception:
                log.exception("tenant API request failed")
                status, body, headers = 500, {"error": "internal error (see the gateway log)"}, {}
            await self._respond(writer, status, body, headers)
            if request is None:
                await self._linger(reader, writer)
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            self._clients.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> _Request:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            raise _HttpError(431, f"the request line and headers exceed {MAX_HEAD} bytes") from None
        lines = head[:-4].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _HttpError(400, "not an HTTP/1.1 request line")
        method, target = parts[0], parts[1]
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                raise _HttpError(400, f"malformed header line {line[:60]!r}")
            key = name.lower()
            if key in headers and key in ("content-length", "transfer-encoding"):
                raise _HttpError(400, f"{name} is given twice")
            headers[key] = value.strip()
        if "transfer-encoding" in headers:
            raise _HttpError(411, "send the body with Content-Length (no chunked encoding)")
        length_text = headers.get("content-length", "0" if method in ("GET", "HEAD") else "")
        if not length_text:
            raise _HttpError(411, f"a {method} needs a Content-Length")
        if not length_text.isascii() or not length_text.isdigit():
            raise _HttpError(400, f"Content-Length {length_text[:20]!r} is not a number")
        length = int(length_text)
        if length > self.max_body:
            raise _HttpError(413, f"the body is {length} bytes; at most {self.max_body}")
        if length and headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
        body = await reader.readexactly(length) if length else b""
        url = urlsplit(target)
        if not url.path.startswith("/"):
            raise _HttpError(400, f"bad request target {target[:60]!r}")
        path = tuple(unquote(part) for part in url.path.split("/")[1:] if part)
        try:
            pairs = parse_qs(url.query, keep_blank_values=True, max_num_fields=32)
        except ValueError:
            raise _HttpError(400, "too many query parameters") from None
        query = {key: values[-1] for key, values in pairs.items()}
        return _Request(method, path, query, body)

    async def _linger(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Discard what the client still sends after an early answer (413, 431, ...) for a
        moment: closing a socket with unread bytes resets the connection, and the reset can
        destroy the answer before the client reads it."""
        if writer.can_write_eof():
            writer.write_eof()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LINGER_S
        budget = 4 * self.max_body
        with contextlib.suppress(Exception):
            while budget > 0 and (left := deadline - loop.time()) > 0:
                data = await asyncio.wait_for(reader.read(65536), left)
                if not data:
                    return
                budget -= len(data)

    async def _respond(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        body: object,
        headers: Mapping[str, str],
    ) -> None:
        if isinstance(body, bytes):
            data, kind = body, "text/plain; charset=utf-8"
        else:
            data, kind = (json.dumps(body) + "\n").encode("utf-8"), "application/json"
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}"]
        head += [f"Content-Type: {kind}", f"Content-Length: {len(data)}", "Connection: close"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data)
        await writer.drain()

    # ---- Routes

    async def _route(self, request: _Request) -> tuple[int, object, Mapping[str, str]]:
        path, method = request.path, request.method
        if path == ("status",):
            _allow(method, "GET")
            return 200, self.backend.status(), {}
        if path == ("healthz",):
            _allow(method, "GET")
            return 200, b"ok", {}
        if len(path) == 3 and path[0] == "deployment" and path[2] == "manifest":
            _allow(method, "PUT")
            return 200, await self._deploy(path[1], request), {}
        if len(path) in (3, 5) and path[0] == "lease" and _sequence(path):
            lease_id, action = path[1], path[-1]
            node = request.query.get("node") or None
            if action == "status":
                _allow(method, "GET")
                return 200, self.backend.lease_report(lease_id, node=node), {}
            if action == "logs":
                _allow(method, "GET")
                return 200, await self._logs(lease_id, node, request.query), {}
            if action == "close" and len(path) == 3:
                _allow(method, "PUT")
                reason = request.query.get("reason") or "closed by the tenant"
                lease = await self.backend.close_lease(lease_id, reason, node=node)
                return 200, _lease_answer(lease), {}
        raise _HttpError(404, f"no such endpoint: {method} /{'/'.join(path)}")

    async def _deploy(self, lease_id: str, request: _Request) -> dict[str, Any]:
        try:
            text = request.body.decode("utf-8")
            if _nesting(text) > MAX_NESTING:
                raise ValueError(f"nested deeper than {MAX_NESTING} levels")
            body = json.loads(text, parse_constant=_no_constant)
        except (UnicodeDecodeError, ValueError, RecursionError) as error:
            raise _HttpError(400, f"the body is not JSON: {error}") from None
        services = manifest_services(body)
        node = request.query.get("node") or None
        price = request.query.get("price", "0").strip() or "0"
        if not re.fullmatch(r"[0-9]{1,30}(\.[0-9]{1,18})?", price):
            raise _HttpError(400, f"price {price[:40]!r} is not a number of base units per block")
        lease = await self.backend.deploy(lease_id, services, node=node, price_per_block=price)
        return _lease_answer(lease)

    async def _logs(
        self, lease_id: str, node: str | None, query: Mapping[str, str]
    ) -> dict[str, Any]:
        if query.get("follow", "false").lower() not in ("", "0", "false"):
            raise _HttpError(400, "follow is not served here: ask again with tail")
        text = query.get("tail", "100")
        if not text.isascii() or not text.isdigit() or int(text) > 100_000:
            raise _HttpError(400, f"tail {text[:20]!r} is not a number from 0 to 100000")
        lines = await self.backend.lease_logs(lease_id, int(text), node=node)
        return {"lease_id": lease_id, "lines": lines}


def _allow(method: str, allowed: str) -> None:
    if method != allowed:
        raise _HttpError(405, f"use {allowed} here, not {method}", {"Allow": allowed})


def _sequence(path: tuple[str, ...]) -> bool:
    """``/lease/<id>/<action>``, or the real ``/lease/<id>/<gseq>/<oseq>/<action>``."""
    return len(path) == 3 or (path[2].isdigit() and path[3].isdigit())


def _lease_answer(lease: Lease) -> dict[str, Any]:
    return {"lease_id": lease.lease_id, "node": lease.node, "state": lease.state}


def _nesting(text: str) -> int:
    """How deep arrays and objects nest in ``text`` (strings skipped), without parsing it."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(1 if c in "[{" else -1 for c in brackets), default=0)


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")
