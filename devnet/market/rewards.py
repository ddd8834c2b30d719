"""Era rewards by the network's uptime rules (spheron-network.md §4.1), measured by the gateway.

The real network pings nodes at random times each hour; the devnet's gateway knows exactly
when each node's session was open, so it counts that. Per node and era:

- **uptime** = seconds with an open session / ``eraSeconds``. Under 50 %: no reward;
- otherwise **reward** = ``getFizzRewardsPerEra(node) x (1 - sum(shortfall x weight))``, where a
  resource's shortfall is how much of the registered claim (the node's on-chain spec: CPU
  threads, GB of RAM and storage) its ``capacity`` report's ``allocatable`` lacks (what leases
  use counts as offered), and the weights are CPU 50 %, RAM 25 %, storage 25 % (with a GPU:
  CPU 20 %, RAM 10 %, storage 10 %, GPU 60 %).

At the end of each era (``genesisTimestamp + k x eraSeconds``, read from FizzRewardsManager)
the rewards are added with ``addFizzPendingRewards`` (SLASHER_ROLE: the settler); the node
claims them with ``fizz-node rewards claim``. An era the gateway saw only part of (it started
late) counts the same way: a node cannot show more uptime than the gateway saw.

Counting uptime needs no chain (the sessions are the gateway's own); only paying does. While
the chain does not answer, samples are kept (placed in their era once the era clock is read)
and finished eras wait: every finished era is paid when the chain is back, oldest first, once.
An era's rewards are worked out once and then sent as they are until they go through, so a
batch whose receipt was lost is not paid twice (:class:`~devnet.market.watch.Sender` finds the
earlier transaction).

With a ``state_path`` the uptime counted in the current era is saved (at most every
``save_every`` seconds, and at each era's end), so a restarted gateway (``devnet up`` restarts
a dying one) goes on counting the era instead of starting it from zero. The file never holds an
era that is being paid: it is saved without an era before that era is worked out, so a restart
can miss at most the uptime of the last seconds before a crash, and never pays an era twice.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from web3 import Web3

from devnet.chain.deploy import Deployment
from devnet.gateway.sessions import Session
from fizz_app.core.atomic import write_atomic
from fizz_app.core.spec import parse_spec

from .watch import Sender, call, reverted

__all__ = ["MIN_UPTIME", "EraRewards", "era_reward", "shortfall"]

log = logging.getLogger(__name__)

MIN_UPTIME = 0.5
GIB = 1024**3
GB = 1000**3
WEIGHTS_CPU_ONLY = {"cpu": Decimal("0.5"), "memory": Decimal("0.25"), "storage": Decimal("0.25")}
WEIGHTS_GPU = {
    "cpu": Decimal("0.2"),
    "memory": Decimal("0.1"),
    "storage": Decimal("0.1"),
    "gpu": Decimal("0.6"),
}


def shortfall(claimed: dict[str, int], offered: dict[str, int]) -> Decimal:
    """The weighted shortfall of ``offered`` against ``claimed`` (resource -> units), 0 to 1."""
    weights = WEIGHTS_GPU if claimed.get("gpu") else WEIGHTS_CPU_ONLY
    total = Decimal(0)
    for name, weight in weights.items():
        want = claimed.get(name, 0)
        if want <= 0:
            continue
        have = min(offered.get(name, 0), want)
        total += weight * (1 - Decimal(have) / Decimal(want))
    return min(Decimal(1), total)


def era_reward(per_era: int, uptime: float, lack: Decimal) -> int:
    """The era's reward in SPON wei: nothing under :data:`MIN_UPTIME`, else ``per_era`` less
    the weighted shortfall ``lack``."""
    if uptime < MIN_UPTIME:
        return 0
    return int(Decimal(per_era) * (1 - lack))


@dataclass
class _NodeEra:
    address: str
    online_s: float = 0.0
    offered: dict[str, int] = field(default_factory=dict)


@dataclass
class _Sample:
    """The open sessions at one moment: ``(address, offered or None)`` each."""

    moment: float
    interval: float
    nodes: list[tuple[str, dict[str, int] | None]]


@dataclass
class _Payout:
    """A finished era's rewards, worked out, still to add on chain."""

    era: int
    rewards: list[tuple[str, int]]
    """``(checksum address, SPON wei)`` not added yet, in order."""
    singly: bool = False
    """The batch was refused (a denied or paused node reverts it): one by one."""


class EraRewards:
    """Counts each node's session time per era and pays the era's rewards when it ends.

    Call :meth:`sample` every few seconds with the time since the last call. With
    ``state_path``, the current era's counts are kept there across restarts (see the module).
    """

    def __init__(
        self,
        w3: Web3,
        deployment: Deployment,
        sessions: Iterable[Session],
        sender: Sender,
        *,
        state_path: Path | None = None,
        save_every: float = 10.0,
    ) -> None:
        self.w3 = w3
        self.state_path = state_path
        self._save_every = save_every
        self._saved_at: float | None = None
        """When the counts were last saved (the sample's moment); ``None`` before."""
        self._restored = False
        self.sessions = sessions
        self.sender = sender
        self._rewards = deployment.contract(w3, "FizzRewardsManager")
        self._fizzes = deployment.contract(w3, "FizzRegistry")
        self._era_config: tuple[int, int] | None = None
        self._unplaced: list[_Sample] = []
        """Samples not yet counted in their era (the era clock is not read yet)."""
        self._eras: dict[int, dict[str, _NodeEra]] = {}
        """Counted uptime by era (then node, lowercase), until the era is paid."""
        self._payouts: dict[int, _Payout] = {}
        self.paid: list[tuple[int, str, int]] = []
        """``(era, node, SPON wei)`` of every reward added, oldest first."""

    async def sample(self, interval: float, now: float | None = None) -> None:
        """Count ``interval`` seconds of uptime for every open session; pay the finished eras
        (when the chain answers: else they are paid on a later call)."""
        moment = time.time() if now is None else now
        nodes: list[tuple[str, dict[str, int] | None]] = []
        for session in self.sessions:
            if not session.is_open:
                continue
            offered = None
            if session.capacity is not None:
                alloc = session.capacity.allocatable
                offered = {
                    "cpu": alloc.cpu // 1000,
                    "memory": alloc.memory // GIB,
                    "storage": alloc.storage_ephemeral // GB,
                    "gpu": alloc.gpu,
                }
            nodes.append((session.address, offered))
        self._unplaced.append(_Sample(moment, interval, nodes))
        try:
            await self._pay_finished(moment)
        except Exception as error:  # the chain is down: counted still, paid later
            log.warning("era rewards not paid yet: %r", error)

    async def _pay_finished(self, moment: float) -> None:
        if self._era_config is None:
            genesis = int(await call(self._rewards.functions.genesisTimestamp().call))
            length = int(await call(self._rewards.functions.eraSeconds().call))
            self._era_config = (genesis, length)
        genesis, length = self._era_config
        for sample in self._unplaced:
            counted = self._eras.setdefault(int((sample.moment - genesis) // length), {})
            for address, offered in sample.nodes:
                entry = counted.setdefault(address.lower(), _NodeEra(address))
                entry.online_s += sample.interval
                if offered is not None:
                    entry.offered = offered
        self._unplaced.clear()
        current = int((moment - genesis) // length)
        self._restore(genesis, length)
        finished = [number for number in self._eras if number < current]
        if finished or self._saved_at is None or moment - self._saved_at >= self._save_every:
            # Before any finished era is worked out: the file must never hold one being paid.
            self._save(moment, genesis, length, current)
        for era in sorted(finished):
            if era not in self._payouts:
                self._payouts[era] = await self._work_out(era, self._eras[era], length)
            await self._pay(self._payouts[era])  # raises: kept as far as it got
            del self._payouts[era], self._eras[era]

    def _save(self, moment: float, genesis: int, length: int, current: int) -> None:
        """Write the counts of the eras not finished at ``moment`` (atomically)."""
        if self.state_path is None:
            return
        eras = {
            str(era): {key: dataclasses.asdict(entry) for key, entry in nodes.items()}
            for era, nodes in self._eras.items()
            if era >= current
        }
        state = {"genesis": genesis, "era_seconds": length, "eras": eras}
        try:
            write_atomic(self.state_path, json.dumps(state).encode("utf-8"))
        except OSError as error:
            log.warning("era uptime not saved to %s: %r", self.state_path, error)
        self._saved_at = moment

    def _restore(self, genesis: int, length: int) -> None:
        """Add the counts a previous run saved (once; only for the same era clock)."""
        if self._restored or self.state_path is None:
            return
        self._restored = True
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
            if (state["genesis"], state["era_seconds"]) != (genesis, length):
                log.info("era uptime in %s is for another chain: not used", self.state_path)
                return
            # Read all of it before adding any: a damaged file adds nothing.
            restored = {
                int(era): {
                    key: _NodeEra(
                        str(entry["address"]),
                        float(entry["online_s"]),
                        {name: int(units) for name, units in entry["offered"].items()},
                    )
                    for key, entry in nodes.items()
                }
                for era, nodes in state["eras"].items()
            }
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            log.warning("era uptime in %s unusable, counting afresh: %r", self.state_path, error)
            return
        for era, nodes in restored.items():
            counted = self._eras.setdefault(era, {})
            for key, saved in nodes.items():
                entry = counted.setdefault(key, _NodeEra(saved.address))
                entry.online_s += saved.online_s
                entry.offered = entry.offered or saved.offered
        log.info("era uptime restored from %s (eras %s)", self.state_path, sorted(restored))

    async def _work_out(self, era: int, nodes: dict[str, _NodeEra], length: int) -> _Payout:
        """The era's rewards (raises while the chain does not answer)."""
        payout = _Payout(era, [])
        for entry in nodes.values():
            uptime = min(1.0, entry.online_s / length)
            try:
                per_era = int(await call(self._rewards.functions.getFizzRewardsPerEra(
                    entry.address).call))  # fmt: skip
                lack = shortfall(await self._claimed(entry.address), entry.offered)
            except Exception as error:
                if not reverted(error):
                    raise
                log.warning("era %d reward of %s not computed: %r", era, entry.address, error)
                continue
            amount = era_reward(per_era, uptime, lack)
            log.info("era %d: node %s up %.0f%%, shortfall %.2f, reward %d",
                     era, entry.address, 100 * uptime, lack, amount)  # fmt: skip
            if amount > 0:
                payout.rewards.append((Web3.to_checksum_address(entry.address), amount))
        return payout

    async def _pay(self, payout: _Payout) -> None:
        """Add ``payout``'s rewards, taking each off it once added. On a chain error what is
        left stays, to be sent again, as the same transactions, next time."""
        era = payout.era
        if payout.rewards and not payout.singly:
            addresses = [address for address, _ in payout.rewards]
            amounts = [amount for _, amount in payout.rewards]
            try:
                await self.sender.send(
                    self._rewards.functions.addFizzPendingRewards(addresses, amounts)
                )
            except Exception as error:  # a denied or paused node reverts the batch
                if not reverted(error):
                    raise
                log.warning("era %d rewards batch failed (%r): adding one by one", era, error)
                payout.singly = True
            else:
                self.paid.extend((era, a, n) for a, n in payout.rewards)
                payout.rewards.clear()
        while payout.rewards:
            address, amount = payout.rewards[0]
            try:
                fn = self._rewards.functions.addFizzPendingRewards([address], [amount])
                await self.sender.send(fn)
            except Exception as single:
                if not reverted(single):
                    raise
                log.warning("era %d reward of %s refused: %r", era, address, single)
            else:
                self.paid.append((era, address, amount))
            payout.rewards.pop(0)

    async def _claimed(self, address: str) -> dict[str, int]:
        fizz: Any = await call(self._fizzes.functions.getFizzNodeByAddress(address).call)
        spec = parse_spec(str(fizz[1]))

        def units(name: str) -> int:
            text = spec.get(name, "0")
            return int(text) if text.isdigit() else 0

        return {
            "cpu": units("cpu_units"),
            "memory": units("memory_gb"),
            "storage": units("storage_gb"),
            "gpu": units("gpu_units"),
        }
