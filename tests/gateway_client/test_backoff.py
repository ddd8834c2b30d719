"""Tests for gateway_client.backoff: jittered delays and the reconnect policy."""

from __future__ import annotations

import itertools
import random

import pytest

from gateway_client.backoff import ReconnectPolicy, backoff
from gateway_client.exceptions import CloseCode


class TestBackoff:
    def test_full_jitter_under_a_doubling_ceiling(self) -> None:
        delays = list(itertools.islice(backoff(rng=random.Random(1)), 12))
        ceilings = [min(60.0, 0.5 * 2**n) for n in range(12)]
        assert all(0.0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
        assert len(set(delays)) == 12  # jittered, not a fixed ladder

    def test_ceiling_reaches_the_maximum_and_stays(self) -> None:
        class Top(random.Random):
            def uniform(self, a: float, b: float) -> float:
                return b  # always the ceiling, to read it back

        delays = list(itertools.islice(backoff(1.0, 10.0, 3.0, rng=Top()), 5))
        assert delays == [1.0, 3.0, 9.0, 10.0, 10.0]

    def test_thousands_of_failures_never_overflow(self) -> None:
        for delay in itertools.islice(backoff(rng=random.Random(2)), 5000):
            assert 0.0 <= delay <= 60.0

    def test_seeded_runs_repeat(self) -> None:
        first = list(itertools.islice(backoff(rng=random.Random(3)), 5))
        second = list(itertools.islice(backoff(rng=random.Random(3)), 5))
        assert first == second

    def test_default_rng(self) -> None:
        assert 0.0 <= next(backoff()) <= 0.5

    @pytest.mark.parametrize(
        ("initial", "maximum", "factor"), [(0.0, 1.0, 2.0), (2.0, 1.0, 2.0), (1.0, 2.0, 0.5)]
    )
    def test_bad_parameters(self, initial: float, maximum: float, factor: float) -> None:
        with pytest.raises(ValueError):
            next(backoff(initial, maximum, factor))


class TestReconnectPolicy:
    @staticmethod
    def ceiling_policy(**kwargs: float) -> ReconnectPolicy:
        class Top(random.Random):
            def uniform(self, a: float, b: float) -> float:
                return b

        return ReconnectPolicy(rng=Top(), **kwargs)

    def test_delays_grow_while_connections_fail(self) -> None:
        policy = self.ceiling_policy()
        assert [policy.next_delay() for _ in range(4)] == [0.5, 1.0, 2.0, 4.0]

    def test_a_stable_connection_resets_the_backoff(self) -> None:
        policy = self.ceiling_policy(stable_after=30.0)
        for _ in range(4):
            policy.next_delay()
        policy.connected(100.0)
        policy.disconnected(130.0)
        assert policy.next_delay() == 0.5

    def test_a_short_lived_connection_keeps_growing(self) -> None:
        policy = self.ceiling_policy(stable_after=30.0)
        policy.next_delay()
        policy.connected(100.0)
        policy.disconnected(129.9)
        assert policy.next_delay() == 1.0

    def test_disconnect_without_connect_keeps_growing(self) -> None:
        policy = self.ceiling_policy()
        policy.next_delay()
        policy.disconnected(1000.0)
        assert policy.next_delay() == 1.0

    def test_default_rng(self) -> None:
        assert 0.0 <= ReconnectPolicy().next_delay() <= 0.5

    @pytest.mark.parametrize(
        "code",
        [
            CloseCode.VERSION_UNSUPPORTED,
            CloseCode.BAD_SIGNATURE,
            CloseCode.NOT_REGISTERED,
            CloseCode.NOT_LINKED,
            CloseCode.ALREADY_CONNECTED,
        ],
    )
    def test_fatal_codes_stop_retrying(self, code: CloseCode) -> None:
        assert ReconnectPolicy.should_retry(code) is False

    @pytest.mark.parametrize("code", [None, 1000, 1001, 1006, 1011, 4000, 4005, 4009, 4012, 4099])
    def test_everything_else_retries(self, code: int | None) -> None:
        assert ReconnectPolicy.should_retry(code) is True
