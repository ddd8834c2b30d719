"""Whether the chain's RPC endpoint answers: the address safe to show, the retry schedule of the
engine's chain checks, and a way to run a blocking chain call that nobody has to wait for.

Stdlib only. The engine (:mod:`fizz_app.core.node_account`) keeps one :class:`ChainHealth` per
online session, feeds it the outcome of every check and publishes :meth:`ChainHealth.to_dict`
as the snapshot's ``chain``; :func:`public_url` and :func:`scrub` keep RPC keys out of messages.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit, urlunsplit

__all__ = ["FIRST_RETRY_S", "MASK", "ChainHealth", "call_detached", "public_url", "scrub"]

T = TypeVar("T")

FIRST_RETRY_S = 5.0
"""Seconds before the first retry after a failed check; each further failure doubles it, up to
the normal interval."""

MASK = "***"
"""What replaces a credential or key in an RPC address."""

# Hosted RPC providers put the API key in the path (``/v2/<key>``, ``/v3/<key>``, ``/<key>/``):
# long segments, or shorter ones mixing letters and digits, are treated as keys.
_KEY_SEGMENT = re.compile(r"^(?=.*[A-Za-z])(?=.*\d)[A-Za-z0-9_-]{8,}$|^[A-Za-z0-9_-]{16,}$")


def public_url(url: str) -> str:
    """``url`` without secrets, for messages, logs and snapshots: user name and password
    dropped, query values and key-like path segments replaced by ``***``
    (``https://u:p@rpc.example/v2/abc123def456?key=k`` -> ``https://rpc.example/v2/***?key=***``).
    An address that cannot be parsed becomes ``"the RPC endpoint"``."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return "the RPC endpoint"
    if not parts.scheme or not host:
        return "the RPC endpoint"
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    path = "/".join(MASK if _KEY_SEGMENT.match(part) else part for part in parts.path.split("/"))
    query = "&".join(f"{name}={MASK}" for name, _ in parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def _secrets_of(url: str) -> list[str]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    found = [parts.password or "", parts.username or "", parts.query, parts.fragment]
    found += [value for _, value in parse_qsl(parts.query, keep_blank_values=True)]
    found += [part for part in parts.path.split("/") if _KEY_SEGMENT.match(part)]
    # Longest first, so that a secret containing another is replaced whole.
    return sorted({item for item in found if len(item) >= 4}, key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """``text`` with the RPC address ``url`` shown as :func:`public_url` shows it, and any of
    its credentials or keys that appear elsewhere in ``text`` masked."""
    if not url:
        return text
    text = text.replace(url, public_url(url))
    for secret in _secrets_of(url):
        text = text.replace(secret, MASK)
    return text


@dataclass
class ChainHealth:
    """The engine's view of the RPC endpoint during one online session.

    Call :meth:`succeeded` or :meth:`failed` after each check; each returns the seconds to wait
    before the next one. Publish :meth:`to_dict` when :meth:`state` changed.

    Args:
        rpc: the endpoint as :func:`public_url` shows it.
        first_retry: seconds before the first retry after a failure.
    """

    rpc: str
    first_retry: float = FIRST_RETRY_S
    reachable: bool | None = None
    """``None`` until the first check has ended."""
    checked_at: float | None = None
    unreachable_since: float | None = None
    error: str | None = None
    next_check_at: float | None = None
    _retry: float | None = None

    def succeeded(self, started: float, ended: float, interval: float) -> float:
        """Record a check begun at ``started`` that answered; back to the normal ``interval``."""
        self.reachable, self.error, self.unreachable_since = True, None, None
        self._retry = None
        return self._schedule(started, ended, interval)

    def failed(self, started: float, ended: float, error: str, interval: float) -> float:
        """Record a check begun at ``started`` that failed with the user-facing ``error``; the
        next comes sooner: ``first_retry`` seconds, doubling after each further failure, never
        later than the normal ``interval``."""
        if self.reachable is not False:
            self.unreachable_since = started
        self.reachable, self.error = False, error
        delay = min(self._retry or self.first_retry, interval)
        self._retry = delay * 2
        return self._schedule(started, ended, delay)

    def state(self) -> tuple[bool | None, str | None]:
        """What front ends are told about: reachable or not, and why not."""
        return self.reachable, self.error

    def to_dict(self) -> dict[str, Any] | None:
        """The snapshot's ``chain``; ``None`` before the first check has ended."""
        if self.reachable is None:
            return None
        return {
            "reachable": self.reachable,
            "checked_at": self.checked_at,
            "unreachable_since": self.unreachable_since,
            "error": self.error,
            "rpc": self.rpc,
            "next_check_at": self.next_check_at,
        }

    def _schedule(self, started: float, ended: float, delay: float) -> float:
        self.checked_at = started
        self.next_check_at = ended + delay
        return delay


async def call_detached(call: Callable[[], T], name: str) -> T:
    """Run the blocking ``call`` on a daemon thread of its own and return its result (or raise
    its exception).

    Cancelling the wait returns at once and leaves the thread to end by itself: neither the
    event loop's shutdown nor the interpreter's exit waits for it, unlike ``asyncio.to_thread``,
    whose executor both join. Use it for calls that may hang until a network timeout (a chain
    RPC host that accepts connections and never answers) and that nothing needs to undo.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.done():  # the waiter may have been cancelled meanwhile
            outcome()

    def deliver(outcome: Callable[[], None]) -> None:
        try:
            loop.call_soon_threadsafe(settle, outcome)
        except RuntimeError:  # the loop has closed: nobody waits for this any more
            pass

    def work() -> None:
        try:
            result = call()
        except Exception as error:
            failure = error  # ``error`` is unbound once the except block ends
            deliver(lambda: future.set_exception(failure))
        else:
            deliver(lambda: future.set_result(result))

    threading.Thread(target=work, name=name, daemon=True).start()
    return await future
