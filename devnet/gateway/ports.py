"""Public ports: one TCP listener per exposed port of a running lease, in a fixed range.

Each ``(node, lease, local port)`` gets a public port from the range (the real gateway uses
20000-20100) and keeps it until the lease ends: across node reconnects, and across gateway
restarts when the assignments are saved and restored (:meth:`PublicPorts.to_json`). While
published, the port listens; every accepted connection is handed to ``opener`` (the server
carries it through the node's current session, or closes it at once when the node is away).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["DEFAULT_PUBLIC_PORTS", "Opener", "PortsExhausted", "PublicPorts"]

log = logging.getLogger(__name__)

DEFAULT_PUBLIC_PORTS = range(20000, 20101)
"""The real gateway's public range (PROXY_PORT_START=20000, PROXY_PORT_END=20100)."""

Key = tuple[str, str, int]
"""``(node address lowercase, lease id, local port)``."""

Opener = Callable[[str, str, int, asyncio.StreamReader, asyncio.StreamWriter], None]
"""Called with ``(node, lease id, local port, reader, writer)`` for each public connection;
it owns the socket from then on."""


class PortsExhausted(Exception):
    """No public port of the range is free (or can be bound)."""


class PublicPorts:
    """Assigns public ports and runs their listeners.

    Args:
        host: the address public listeners bind.
        ports: the range to assign from.
        opener: takes each accepted public connection (see :data:`Opener`).
    """

    def __init__(self, host: str, ports: range, opener: Opener) -> None:
        self.host = host
        self.range = ports
        self.opener = opener
        self._assigned: dict[Key, int] = {}
        self._nodes: dict[Key, str] = {}  # key -> the node address as given (checksummed)
        self._listeners: dict[Key, asyncio.Server] = {}

    # ---- Queries

    def assigned(self, node: str, lease_id: str, port: int) -> int | None:
        """The public port assigned to ``port`` of the lease, if any."""
        return self._assigned.get((node.lower(), lease_id, port))

    def of(self, node: str, lease_id: str) -> dict[int, int]:
        """The lease's assigned ports: local port -> public port."""
        prefix = (node.lower(), lease_id)
        return {key[2]: public for key, public in self._assigned.items() if key[:2] == prefix}

    def count(self, node: str) -> int:
        """How many public ports the node holds, over all its leases."""
        key = node.lower()
        return sum(1 for assigned in self._assigned if assigned[0] == key)

    def listening(self, node: str, lease_id: str, port: int) -> bool:
        """True while the public port accepts connections."""
        return (node.lower(), lease_id, port) in self._listeners

    def __len__(self) -> int:
        return len(self._assigned)

    # ---- Changes

    async def publish(self, node: str, lease_id: str, port: int) -> int:
        """Listen on the lease port's public port (assigning one if it has none); idempotent.

        Returns:
            The public port.

        Raises:
            PortsExhausted: every port of the range is assigned or cannot be bound.
        """
        key = (node.lower(), lease_id, port)
        self._nodes[key] = node
        if key in self._listeners:
            return self._assigned[key]
        previous = self._assigned.get(key)
        if previous is not None:
            server = await self._listen(key, previous)
            if server is not None:
                self._listeners[key] = server
                return previous
            # Taken by another program since it was assigned (e.g. across a restart).
            log.warning("public port %d is no longer free; assigning another", previous)
            del self._assigned[key]
        taken = set(self._assigned.values())
        for candidate in self.range:
            if candidate in taken:
                continue
            server = await self._listen(key, candidate)
            if server is not None:
                self._assigned[key] = candidate
                self._listeners[key] = server
                log.info("lease %s port %d published on %d", lease_id, port, candidate)
                return candidate
        self._nodes.pop(key, None)
        raise PortsExhausted(f"no free public port in {self.range.start}-{self.range.stop - 1}")

    def unpublish(self, node: str, lease_id: str, ports: Iterable[int] | None = None) -> None:
        """Stop listening for the lease's ``ports`` (all when ``None``); keep their
        assignments (the lease is pending, or the gateway is stopping). Connections already
        carried stay up: they end with their stream."""
        for key in self._keys(node, lease_id, ports):
            server = self._listeners.pop(key, None)
            if server is not None:
                server.close()

    def release(self, node: str, lease_id: str, ports: Iterable[int] | None = None) -> None:
        """Stop listening and free the assignments (the lease ended, or dropped a port)."""
        keys = self._keys(node, lease_id, ports)
        self.unpublish(node, lease_id, ports)
        for key in keys:
            self._assigned.pop(key, None)
            self._nodes.pop(key, None)

    def close(self) -> None:
        """Stop every listener; assignments stay (see :meth:`to_json`)."""
        listeners, self._listeners = self._listeners, {}
        for server in listeners.values():
            server.close()

    # ---- Persistence

    def to_json(self) -> list[dict[str, Any]]:
        return [
            {"node": self._nodes.get(key, key[0]), "lease_id": key[1], "port": key[2], "public": p}
            for key, p in self._assigned.items()
        ]

    def restore(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Load :meth:`to_json`'s output: assignments only, nothing listens yet."""
        for row in rows:
            node, public = str(row["node"]), int(row["public"])
            key = (node.lower(), str(row["lease_id"]), int(row["port"]))
            if public in self.range and public not in self._assigned.values():
                self._assigned[key] = public
                self._nodes[key] = node

    # ---- Private

    def _keys(self, node: str, lease_id: str, ports: Iterable[int] | None) -> list[Key]:
        prefix = (node.lower(), lease_id)
        if ports is None:
            return [key for key in self._assigned if key[:2] == prefix]
        return [(*prefix, port) for port in ports]

    async def _listen(self, key: Key, public: int) -> asyncio.Server | None:
        node = self._nodes.get(key, key[0])
        _, lease_id, port = key

        def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                self.opener(node, lease_id, port, reader, writer)
            except Exception:  # never let one connection's failure reach the listener
                log.exception("public connection to lease %s port %d failed", lease_id, port)
                writer.close()

        try:
            return await asyncio.start_server(accepted, self.host, public)
        except OSError as error:
            log.debug("cannot listen on %s:%d: %s", self.host, public, error)
            return None
