"""Lease settlement: streaming tenants' locked escrow to the nodes while their leases run.

Runs beside the gateway (it needs the gateway's sessions to tell nodes what they earned).
Every :attr:`Settlement.tick` seconds, for each active lease matched to this gateway
(``LeaseCreated`` with this gateway as provider):

- **pay**: the lease owes ``acceptedPrice`` for every block since its start, counted in the
  network's 2-second blocks (Base's, :data:`BLOCK_SECONDS`) from its on-chain ``startTime``, up
  to its ``numOfBlocks``. What is owed and not yet paid moves from the tenant's lock into
  EscrowProtocol (``transferLockedFizz``, SETTLER_ROLE), credited to the node;
- **tell**: after each credit the node's session gets the lease's cumulative total
  (``earnings``, whole uSPON; :meth:`GatewayServer.credit_earnings`); a node that is away
  is told at its next tick online (it books only increases, so repeats are harmless);
- **end**: a lease whose blocks are all paid, or whose workload ended on the node (the job
  finished, the container failed, the node lost it), is closed on chain (``closeLease``, the settler
  may); a ``LeaseClosed`` (by the tenant, the provider or the settler) closes the lease on the
  gateway, which tells the node.

What was paid is read back from the chain after a restart: the order's lock shrinks by each
payment, so ``maxPrice x numOfBlocks - lockedAmount`` is the lease's total so far. It is read
back too after a payment whose fate is unknown (the chain stopped answering after it was
sent), once the sender has found out whether it was mined, so nothing is paid twice.

A chain that does not answer delays payments and closes, nothing more: a lease whose
``LeaseCreated`` was read but not adopted yet is adopted on a later round, and era rewards
(:class:`~devnet.market.rewards.EraRewards`) count uptime every round whatever the chain does,
for the time that really passed since the previous round (a round held up by a hanging chain
counts in full).

Devnet limitation: ``transferLockedFizz`` charges the oldest active lease of that tenant on that
node, so two leases of one tenant on one node at once would be paid in the wrong order (the
total stays right). The demo tenant runs one lease at a time.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from web3 import Web3

from devnet.chain.deploy import Deployment
from devnet.gateway.deployments import DeploymentError

from .rewards import EraRewards
from .watch import EventFeed, Sender, call

if TYPE_CHECKING:
    from devnet.gateway.server import GatewayServer

__all__ = ["BLOCK_SECONDS", "SettledLease", "Settlement", "owed"]

log = logging.getLogger(__name__)

BLOCK_SECONDS = 2.0
"""The network's block time (Base; the node's pricing assumes 1800 blocks an hour)."""
USPON_DECIMALS = 6


def owed(price: int, blocks: int, started: float, now: float) -> int:
    """What a lease of ``price`` per block for ``blocks`` blocks, started at unix time
    ``started``, owes at ``now``: one price per whole block elapsed, never more than
    ``blocks`` of them."""
    elapsed = max(0, math.floor((now - started) / BLOCK_SECONDS))
    return price * min(blocks, elapsed)


@dataclass
class SettledLease:
    """One active lease being paid."""

    lease_id: int
    fizz_id: int
    tenant: str
    token: str
    price: int
    blocks: int
    started: float
    paid: int
    """Base units credited on chain so far."""
    told: int = -1
    """The total the node was last told (-1: never)."""
    unsure: bool = False
    """A payment failed: it may have gone through all the same, so :attr:`paid` is read back
    from the chain before the next one."""

    @property
    def total(self) -> int:
        """Everything the lease can pay."""
        return self.price * self.blocks


class Settlement:
    """Pays the leases of ``gateway`` (provider ``deployment.gateway_provider_id``) from the
    settler account, and adds era rewards (:class:`~devnet.market.rewards.EraRewards`).

    Run :meth:`run` as a task of the gateway's loop; cancel it to stop.
    """

    def __init__(
        self,
        w3: Web3,
        deployment: Deployment,
        gateway: GatewayServer,
        *,
        settler: Any = None,
        tick: float = 2.0,
        rewards: bool = True,
    ) -> None:
        self.w3 = w3
        self.deployment = deployment
        self.gateway = gateway
        self.sender = Sender(w3, settler if settler is not None else deployment.settler)
        self.tick = tick
        self.leases: dict[int, SettledLease] = {}
        # The era's uptime is kept beside the gateway's own state (when it keeps one).
        state = gateway.state_path
        uptime = None if state is None else state.with_suffix(".uptime.json")
        # A sender of its own: a batch in doubt is then looked up by its own retry (the same
        # call), not by the next payment, which would leave the retry to pay it again.
        self.rewards = (
            EraRewards(
                w3, deployment, gateway.sessions, Sender(w3, self.sender.account), state_path=uptime
            )
            if rewards
            else None
        )
        lease = deployment.contract(w3, "ComputeLease")
        self._lease = lease
        self._orders = deployment.contract(w3, "OrderRequest")
        self._escrow = deployment.contract(w3, "EscrowProtocol")
        self._created = EventFeed(w3, lease.events.LeaseCreated, deployment.deployed_block)
        self._closed = EventFeed(w3, lease.events.LeaseClosed, deployment.deployed_block)
        self._provider = Web3.to_checksum_address(deployment.gateway_address)
        self._unadopted: list[Any] = []  # LeaseCreated args read, not adopted yet
        self._sampled_at: float | None = None

    async def run(self) -> None:
        """Settle every :attr:`tick` seconds until cancelled."""
        while True:
            try:
                await self.settle_once()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the chain went away: try again next tick
                log.warning("settlement round failed: %r", error)
            await asyncio.sleep(self.tick)

    async def settle_once(self, now: float | None = None) -> None:
        """One round: new and closed leases, payments, notices, era rewards (uptime is
        counted even when the rest fails; the rest's error is raised after)."""
        moment = time.time() if now is None else now
        failed: Exception | None = None
        try:
            await self._settle_leases(moment)
        except Exception as error:  # the chain went away: uptime still counts
            failed = error
        if self.rewards is not None:
            last, self._sampled_at = self._sampled_at, moment
            await self.rewards.sample(
                self.tick if last is None else max(0.0, moment - last), moment
            )
        if failed is not None:
            raise failed

    async def _settle_leases(self, moment: float) -> None:
        self._unadopted.extend(event["args"] for event in await self._created.poll())
        while self._unadopted:  # an adoption the chain failed is tried again next round
            await self._adopt(self._unadopted[0])
            self._unadopted.pop(0)
        for event in await self._closed.poll():
            await self._ended(int(event["args"]["leaseId"]))
        for lease in list(self.leases.values()):
            await self._pay(lease, moment)
            self._tell(lease)
            ended = self._ended_on_gateway(lease.lease_id)
            if lease.paid >= lease.total or ended:
                why = ended or "it has used all its blocks"
                log.info("lease %d: closing it on chain: %s", lease.lease_id, why)
                await self.sender.send(self._lease.functions.closeLease(lease.lease_id))
        if self.rewards is not None:
            await self.rewards.sample(self.tick)

    def _ended_on_gateway(self, lease_id: int) -> str | None:
        """Why the lease ended on the node (finished, failed, lost), or None while it runs
        or was not deployed yet: an ended workload stops paying."""
        found = self.gateway.leases.find(str(lease_id))
        if not found or any(lease.active for lease in found):
            return None
        return f"the lease {found[0].state} on the node ({found[0].reason or 'no reason given'})"

    async def _adopt(self, args: Any) -> None:
        if Web3.to_checksum_address(args["providerAddress"]) != self._provider:
            return
        lease_id = int(args["leaseId"])
        row = await call(self._lease.functions.leases(lease_id).call)
        if int(row[9]) != 0:  # terminated already (read again after a restart)
            return
        summary = await call(self._orders.functions.getOrderSummary(int(args["requestId"])).call)
        _creator, token, _max_price, blocks, _mode, _state, _locked = summary
        price = int(args["acceptedPrice"])
        self.leases[lease_id] = SettledLease(
            lease_id=lease_id,
            fizz_id=int(args["fizzId"]),
            tenant=Web3.to_checksum_address(args["tenantAddress"]),
            token=Web3.to_checksum_address(token),
            price=price,
            blocks=int(blocks),
            started=float(args["startTime"]),
            paid=_paid(summary),
        )
        log.info("settling lease %d: %d per block for %d blocks", lease_id, price, blocks)

    async def _pay(self, lease: SettledLease, now: float) -> None:
        if lease.unsure:  # did the failed payment go through? The lock says.
            await self.sender.resolve()
            orders = self._orders.functions
            lease.paid = _paid(await call(orders.getOrderSummary(lease.lease_id).call))
            lease.unsure = False
        due = owed(lease.price, lease.blocks, lease.started, now) - lease.paid
        if due <= 0:
            return
        try:
            await self.sender.send(
                self._escrow.functions.transferLockedFizz(
                    lease.tenant, lease.fizz_id, lease.token, due
                )
            )
        except Exception:
            lease.unsure = True
            raise
        lease.paid += due

    def _tell(self, lease: SettledLease) -> None:
        if lease.told == lease.paid or lease.paid == 0:
            return
        amount = format(Decimal(lease.paid).scaleb(-USPON_DECIMALS).normalize(), "f")
        try:
            if self.gateway.credit_earnings(str(lease.lease_id), amount):
                lease.told = lease.paid
        except DeploymentError:
            pass  # the tenant has not sent its manifest yet: nothing on the gateway to tell

    async def _ended(self, lease_id: int) -> None:
        lease = self.leases.pop(lease_id, None)
        if lease is not None:
            self._tell(lease)  # the last credit, if the node has not heard it yet
        try:
            await self.gateway.close_lease(str(lease_id), "the lease was closed on chain")
        except DeploymentError:
            pass  # never deployed here (no manifest came), or another gateway's


def _paid(summary: Any) -> int:
    """What a lease has paid so far, from its order's ``getOrderSummary``: the lock was
    ``maxPrice x numOfBlocks`` and shrinks by each payment (the lease id is the order id)."""
    _creator, _token, max_price, blocks, _mode, _state, locked = summary
    return int(max_price) * int(blocks) - int(locked)
