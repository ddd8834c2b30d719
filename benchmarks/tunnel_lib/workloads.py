"""The three workloads, each driven from the benchmark's event loop against one address.

* :func:`transfer` - bulk throughput over one or more streams into the sink.
* :func:`http_load` - HTTP requests at a fixed offered rate (open loop) on persistent
  connections, with latency measured from each request's *scheduled* time, so a tunnel that
  stalls is charged for the whole stall (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections import deque
from dataclasses import dataclass, field

from .servers import HEADER_BYTES
from .tunnels import Address

MIB = 1 << 20


async def _connect(address: Address) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    # asyncio's default write-buffer limits (64 KiB) measured fastest here: larger ones only
    # add copies into the transport's buffer once the socket's own buffer is full.
    return await asyncio.open_connection(*address)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def _send_and_confirm(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, nbytes: int, payload: memoryview
) -> None:
    writer.write(nbytes.to_bytes(HEADER_BYTES, "big"))
    left = nbytes
    while left:
        piece = payload[: min(left, len(payload))]
        writer.write(piece)
        left -= len(piece)
        await writer.drain()
    confirmed = int.from_bytes(await reader.readexactly(HEADER_BYTES), "big")
    if confirmed != nbytes:
        raise RuntimeError(f"sink confirmed {confirmed} bytes, {nbytes} were sent")


def make_payload(chunk_bytes: int) -> memoryview:
    """Incompressible bytes to send over and over (a tunnel that compresses gains nothing)."""
    return memoryview(os.urandom(chunk_bytes))


async def transfer(
    address: Address, total_bytes: int, streams: int, payload: memoryview, timeout_s: float
) -> float:
    """Send ``total_bytes`` to the sink, split evenly over ``streams`` connections opened
    beforehand; return the seconds from the first byte sent to the sink's confirmation of
    the last stream's last byte."""
    if streams < 1 or total_bytes < streams:
        raise ValueError("need at least one stream and one byte per stream")
    shares = [total_bytes // streams + (i < total_bytes % streams) for i in range(streams)]
    opened = await asyncio.gather(
        *(_connect(address) for _ in range(streams)), return_exceptions=True
    )
    connections = [item for item in opened if isinstance(item, tuple)]
    try:
        failed = [item for item in opened if isinstance(item, BaseException)]
        if failed:
            raise ConnectionError(f"{len(failed)} of {streams} connects failed: {failed[0]!r}")
        async with asyncio.timeout(timeout_s):
            started = time.perf_counter()
            await asyncio.gather(
                *(
                    _send_and_confirm(reader, writer, share, payload)
                    for (reader, writer), share in zip(connections, shares, strict=True)
                )
            )
            return time.perf_counter() - started
    finally:
        await asyncio.gather(*(_close(writer) for _, writer in connections))


def percentile(samples: list[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1) of a non-empty list."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


HTTP_REQUEST = b"GET /bench HTTP/1.1\r\nHost: bench\r\nUser-Agent: fizz-bench\r\n\r\n"


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    service_times: list[float] = field(default_factory=list)
    send_lags: list[float] = field(default_factory=list)
    connection_errors: int = 0
    bad_status: int = 0
    last_response: float = 0.0
    outstanding: int = 0
    drained: asyncio.Event = field(default_factory=asyncio.Event)

    def settle(self, count: int = 1) -> None:
        self.outstanding -= count
        if self.outstanding == 0:
            self.drained.set()


class _HttpConnection:
    """One persistent connection. Requests go out when scheduled (pipelined if an earlier one
    is still unanswered); responses come back in order and are matched FIFO."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, tally: _Tally
    ) -> None:
        self.writer = writer
        self.pending: deque[tuple[float, float]] = deque()  # (scheduled, sent) unanswered
        self.alive = True
        self._reader = reader
        self._tally = tally
        self._task = asyncio.create_task(self._read_responses())

    def send(self, scheduled: float) -> None:
        self.pending.append((scheduled, time.perf_counter()))
        self._tally.outstanding += 1
        self._tally.drained.clear()
        self.writer.write(HTTP_REQUEST)

    async def _read_responses(self) -> None:
        tally = self._tally
        try:
            while True:
                head = await self._reader.readuntil(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                status = lines[0].split(b" ", 2)[1]
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                await self._reader.readexactly(length)
                now = time.perf_counter()
                scheduled, sent = self.pending.popleft()
                if status == b"200":
                    tally.latencies.append(now - scheduled)
                    tally.service_times.append(now - sent)
                    tally.last_response = max(tally.last_response, now)
                else:
                    tally.bad_status += 1
                tally.settle()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError,
                IndexError, ValueError):  # fmt: skip
            self.alive = False
            if self.pending:
                tally.connection_errors += len(self.pending)
                tally.settle(len(self.pending))
                self.pending.clear()

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await _close(self.writer)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


async def http_load(
    address: Address,
    rate: float,
    seconds: float,
    connections: int,
    response_timeout_s: float,
) -> dict[str, float | int]:
    """Offer ``rate`` requests/s for ``seconds`` over ``connections`` persistent connections.

    Request i is due at ``t0 + i / rate`` and is written then (round robin over the
    connections, skipping dead ones) whatever happened to earlier requests. Its latency runs
    from that due time to the end of its response. Requests unanswered ``response_timeout_s``
    after the last one was sent count as timeouts.
    """
    tally = _Tally()
    opened = await asyncio.gather(
        *(_connect(address) for _ in range(connections)), return_exceptions=True
    )
    pool = [_HttpConnection(r, w, tally) for r, w in (c for c in opened if isinstance(c, tuple))]
    connect_errors = connections - len(pool)
    total = round(rate * seconds)
    try:
        if not pool:
            raise ConnectionError(f"no connection to {address} could be opened")
        # Warm-up: one answered request per connection, so that opening the path through the
        # tunnel (channel set-up, the tunnel's own connect to the server) is not measured.
        for connection in pool:
            connection.send(time.perf_counter())
        async with asyncio.timeout(response_timeout_s):
            await tally.drained.wait()
        warm_errors = tally.connection_errors + tally.bad_status
        tally.latencies.clear()
        tally.service_times.clear()
        tally.connection_errors = tally.bad_status = 0

        t0 = time.perf_counter() + 0.01
        for index in range(total):
            scheduled = t0 + index / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            for step in range(len(pool)):
                connection = pool[(index + step) % len(pool)]
                if connection.alive:
                    tally.send_lags.append(time.perf_counter() - scheduled)
                    connection.send(scheduled)
                    break
            else:
                tally.connection_errors += 1
        last_sent = time.perf_counter()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(response_timeout_s):
                await tally.drained.wait()
        timeouts = max(tally.outstanding, 0)
    finally:
        await asyncio.gather(*(connection.close() for connection in pool))

    ok = len(tally.latencies)
    window = max(seconds, (tally.last_response or last_sent) - t0)
    result: dict[str, float | int] = {
        "offered_rps": rate,
        "seconds": seconds,
        "connections": connections,
        "requests": total,
        "ok": ok,
        "achieved_rps": round(ok / window, 2),
        "errors": connect_errors
        + warm_errors
        + tally.connection_errors
        + tally.bad_status
        + timeouts,
        "connect_errors": connect_errors,
        "connection_errors": tally.connection_errors,
        "bad_status": tally.bad_status,
        "timeouts": timeouts,
        "send_lag_p50_ms": _ms(percentile(tally.send_lags, 0.5)) if tally.send_lags else 0.0,
        "send_lag_p99_ms": _ms(percentile(tally.send_lags, 0.99)) if tally.send_lags else 0.0,
    }
    if ok:
        result.update(
            p50_ms=_ms(percentile(tally.latencies, 0.50)),
            p90_ms=_ms(percentile(tally.latencies, 0.90)),
            p99_ms=_ms(percentile(tally.latencies, 0.99)),
            max_ms=_ms(max(tally.latencies)),
            mean_ms=_ms(sum(tally.latencies) / ok),
            # From the actual write instead of the scheduled time: what the tunnel adds
            # without the harness's own timer lateness (send_lag); hides stalls, so the
            # figures above are the ones to compare.
            service_p50_ms=_ms(percentile(tally.service_times, 0.50)),
            service_p99_ms=_ms(percentile(tally.service_times, 0.99)),
        )
    return result
