"""Reconnect delays: capped exponential backoff with full jitter, and a small policy around it.

Full jitter (a uniform draw between 0 and the capped exponential) spreads the reconnects of
many nodes after a gateway restart instead of having them return in synchronised waves (AWS
Architecture Blog, "Exponential Backoff And Jitter", 2015). A driver asks
:meth:`ReconnectPolicy.next_delay` before each attempt, reports :meth:`~ReconnectPolicy.connected`
and :meth:`~ReconnectPolicy.disconnected`, and stops when :meth:`~ReconnectPolicy.should_retry`
says a close is fatal.

Stdlib only, pure: the clock is passed in and the random source is injectable.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from .exceptions import is_retryable

__all__ = ["backoff", "ReconnectPolicy"]


def backoff(
    initial: float = 0.5,
    maximum: float = 60.0,
    factor: float = 2.0,
    rng: random.Random | None = None,
) -> Iterator[float]:
    """Yield reconnect delays forever: ``uniform(0, min(maximum, initial * factor**n))``.

    Args:
        initial: ceiling of the first delay, in seconds.
        maximum: largest ceiling, in seconds.
        factor: growth of the ceiling per attempt.
        rng: the random source (seed one in tests); a fresh ``random.Random()`` by default.

    Raises:
        ValueError: ``initial`` is not positive, ``maximum < initial`` or ``factor < 1``.
    """
    if not 0 < initial <= maximum or factor < 1:
        raise ValueError("need 0 < initial <= maximum and factor >= 1")
    draw = rng if rng is not None else random.Random()
    ceiling = initial
    while True:
        yield draw.uniform(0.0, ceiling)
        # Multiplying the running ceiling (rather than computing factor**n) can never overflow,
        # however many attempts fail in a row.
        ceiling = min(maximum, ceiling * factor)


class ReconnectPolicy:
    """When to reconnect, and whether to at all.

    Args:
        initial, maximum, factor, rng: as for :func:`backoff`.
        stable_after: a connection that stayed up at least this long (seconds) counts as a
            success, and the next failure starts again from short delays.
    """

    def __init__(
        self,
        *,
        initial: float = 0.5,
        maximum: float = 60.0,
        factor: float = 2.0,
        stable_after: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        self._params = (initial, maximum, factor)
        self._rng = rng if rng is not None else random.Random()
        self.stable_after = stable_after
        self._delays = backoff(initial, maximum, factor, self._rng)
        self._connected_at: float | None = None

    def next_delay(self) -> float:
        """Seconds to wait before the next connection attempt."""
        return next(self._delays)

    def connected(self, now: float) -> None:
        """Report that a session opened (``welcome`` received) at ``now``."""
        self._connected_at = now

    def disconnected(self, now: float) -> None:
        """Report that the connection ended at ``now``.

        A session that lasted ``stable_after`` seconds resets the backoff; a shorter one (a
        gateway that accepts and then drops at once) keeps growing it, so such a loop cannot
        hammer the gateway.
        """
        if self._connected_at is not None and now - self._connected_at >= self.stable_after:
            initial, maximum, factor = self._params
            self._delays = backoff(initial, maximum, factor, self._rng)
        self._connected_at = None

    @staticmethod
    def should_retry(close_code: int | None) -> bool:
        """False for fatal close codes (bad signature, not registered, not linked, already
        connected elsewhere, version unsupported): stop and tell the user instead."""
        return is_retryable(close_code)
