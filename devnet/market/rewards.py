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
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from web3 import Web3

from devnet.chain.deploy import Deployment
from devnet.gateway.sessions import Session
from fizz_app.core.spec import parse_spec

from .watch import Sender, call

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


class EraRewards:
    """Counts each node's session time per era and pays the era's rewards when it ends.

    Call :meth:`sample` every few seconds with the time since the last call.
    """

    def __init__(
        self, w3: Web3, deployment: Deployment, sessions: Iterable[Session], sender: Sender
    ) -> None:
        self.w3 = w3
        self.sessions = sessions
        self.sender = sender
        self._rewards = deployment.contract(w3, "FizzRewardsManager")
        self._fizzes = deployment.contract(w3, "FizzRegistry")
        self._era_config: tuple[int, int] | None = None
        self._era: int | None = None
        self._nodes: dict[str, _NodeEra] = {}
        self.paid: list[tuple[int, str, int]] = []
        """``(era, node, SPON wei)`` of every reward added, oldest first."""

    async def sample(self, interval: float, now: float | None = None) -> None:
        """Count ``interval`` seconds of uptime for every open session; pay a finished era."""
        if self._era_config is None:
            genesis = int(await call(self._rewards.functions.genesisTimestamp().call))
            length = int(await call(self._rewards.functions.eraSeconds().call))
            self._era_config = (genesis, length)
        genesis, length = self._era_config
        moment = time.time() if now is None else now
        era = int((moment - genesis) // length)
        if self._era is not None and era != self._era:
            finished, nodes = self._era, self._nodes
            self._nodes = {}
            await self._pay(finished, nodes, length)
        self._era = era
        for session in self.sessions:
            if not session.is_open:
                continue
            key = session.address.lower()
            entry = self._nodes.setdefault(key, _NodeEra(session.address))
            entry.online_s += interval
            if session.capacity is not None:
                alloc = session.capacity.allocatable
                entry.offered = {
                    "cpu": alloc.cpu // 1000,
                    "memory": alloc.memory // GIB,
                    "storage": alloc.storage_ephemeral // GB,
                    "gpu": alloc.gpu,
                }

    async def _pay(self, era: int, nodes: dict[str, _NodeEra], length: int) -> None:
        addresses: list[str] = []
        amounts: list[int] = []
        for entry in nodes.values():
            uptime = min(1.0, entry.online_s / length)
            try:
                per_era = int(await call(self._rewards.functions.getFizzRewardsPerEra(
                    entry.address).call))  # fmt: skip
                lack = shortfall(await self._claimed(entry.address), entry.offered)
            except Exception as error:
                log.warning("era %d reward of %s not computed: %r", era, entry.address, error)
                continue
            amount = era_reward(per_era, uptime, lack)
            log.info("era %d: node %s up %.0f%%, shortfall %.2f, reward %d",
                     era, entry.address, 100 * uptime, lack, amount)  # fmt: skip
            if amount > 0:
                addresses.append(Web3.to_checksum_address(entry.address))
                amounts.append(amount)
        if not addresses:
            return
        try:
            await self.sender.send(
                self._rewards.functions.addFizzPendingRewards(addresses, amounts)
            )
        except Exception as error:  # a denied or paused node reverts the batch: pay one by one
            log.warning("era %d rewards batch failed (%r): adding one by one", era, error)
            for address, amount in zip(addresses, amounts, strict=True):
                try:
                    fn = self._rewards.functions.addFizzPendingRewards([address], [amount])
                    await self.sender.send(fn)
                except Exception as single:
                    log.warning("era %d reward of %s refused: %r", era, address, single)
                    continue
                self.paid.append((era, address, amount))
            return
        self.paid.extend((era, a, n) for a, n in zip(addresses, amounts, strict=True))

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
