"""Admission of logins: a bounded queue served by a few workers.

Verifying a login costs real work (signature recovery, chain reads: ~25 ms of CPU against a
local chain), and a node whose verification is not done within the handshake timeout gives up
and comes back later. Without a bound, a burst of logins (thousands of nodes coming back after
a gateway restart) makes every login wait until it expires, and the gateway spends all its
time on work for nodes that already left (congestion collapse). So:

- at most ``capacity`` connections wait unverified; beyond that the server answers new
  WebSocket handshakes with HTTP 503 (before the node signs anything: the cheapest refusal);
- logins are verified first come, first served, by ``workers`` tasks, skipping those whose
  node already left;
- a login that waited longer than ``max_wait`` is refused with 1013 "Try Again Later"
  (RFC 6455 §7.4.1) instead of being verified too late; so is one that arrives when the queue
  is full. Nodes retry both after their backoff.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from gateway_client.client import Connection
from gateway_client.protocol import LoginReceived, State

__all__ = ["TRY_AGAIN_LATER", "LoginQueue"]

log = logging.getLogger(__name__)

TRY_AGAIN_LATER = 1013
"""WebSocket close code "Try Again Later": the gateway is too busy to verify this login now."""

BUSY_REASON = "gateway busy: try again later"

Verify = Callable[[Connection, LoginReceived], Awaitable[None]]


class LoginQueue:
    """Logins waiting for verification.

    Args:
        verify: verifies one login and accepts or rejects it.
        workers: logins verified at once.
        capacity: logins allowed to wait.
        max_wait: seconds a login may wait before it is refused as too late to verify.
        clock: monotonic clock.
    """

    def __init__(
        self,
        verify: Verify,
        *,
        workers: int = 2,
        capacity: int = 256,
        max_wait: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if workers < 1 or capacity < 1:
            raise ValueError("workers and capacity must be positive")
        self.verify = verify
        self.workers = workers
        self.capacity = capacity
        self.max_wait = max_wait
        self.clock = clock
        self.refused = 0
        """Logins refused with 1013 (queue full or waited too long) since creation."""
        self._pending: OrderedDict[Connection, tuple[LoginReceived, float]] = OrderedDict()
        self._ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def __len__(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        """Start the workers."""
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._work(), name=f"gateway-login-{n}")
                for n in range(self.workers)
            ]

    async def stop(self) -> None:
        """Stop the workers (a verification in progress is cancelled) and drop the queue."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._pending.clear()

    def submit(self, connection: Connection, event: LoginReceived) -> None:
        """Queue a login, or refuse it at once if the queue is full."""
        if len(self._pending) >= self.capacity:
            self._refuse(connection)
            return
        self._pending[connection] = (event, self.clock())
        self._ready.set()

    def discard(self, connection: Connection) -> None:
        """Forget a queued login (its connection ended)."""
        self._pending.pop(connection, None)

    def _refuse(self, connection: Connection) -> None:
        self.refused += 1
        connection.protocol.reject(TRY_AGAIN_LATER, BUSY_REASON)
        connection.wake()

    async def _work(self) -> None:
        while True:
            while not self._pending:
                self._ready.clear()
                await self._ready.wait()
            connection, (event, queued_at) = self._pending.popitem(last=False)
            if connection.protocol.state is not State.AUTHENTICATING:
                continue  # the node gave up (handshake timeout) or left meanwhile
            if self.clock() - queued_at > self.max_wait:
                self._refuse(connection)
                continue
            try:
                await self.verify(connection, event)
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad login must not stop the worker
                log.exception("verifying a login failed")
