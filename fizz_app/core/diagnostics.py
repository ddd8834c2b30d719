""" "Why no jobs?": the first thing standing between this node and its next lease.

Peer networks' most asked question (peers.md). :func:`why_no_jobs` checks the causes in the
order a user should fix them and names only the first, in plain words with what to do. Pure:
the engine passes what it knows.
"""

from __future__ import annotations

from dataclasses import dataclass

from .state import DesiredState

__all__ = ["NodeFacts", "diagnose", "why_no_jobs"]


@dataclass(frozen=True)
class NodeFacts:
    desired: DesiredState
    paused_until_text: str | None = None
    """"until 14:30" when the user paused with an end, else ``None``."""
    has_wallet: bool = True
    registered: bool | None = None
    """``None`` while not known yet (the chain was not asked)."""
    error: str | None = None
    """The engine's current error (gateway refused, chain unreachable...), with its remedy."""
    connected: bool = False
    policy_reason: str | None = None
    """The policy's blocking rule in words; ``None`` when the policy allows leases."""
    runtimes_available: bool = True
    """A container engine answers, or WebAssembly jobs can run."""
    container_engine: bool = True
    free_cpu_millicores: int = 1
    market_refusal: str | None = None
    """The last offer turned down for its price or size ("an order paid 3 per block, below
    your price of 5"); shown while nothing else blocks and no lease runs."""
    leases_running: int = 0


def diagnose(facts: NodeFacts) -> tuple[str, bool]:
    """Return (reason, blocking): the first reason, as :func:`why_no_jobs` gives it, and
    whether it stops every new lease (``False`` for a node that is online but full, or that
    can take WebAssembly jobs only)."""
    return _first_reason(facts)


def why_no_jobs(facts: NodeFacts) -> str:
    """Return the first reason no lease can arrive, or "" when the node is ready for one."""
    return _first_reason(facts)[0]


def _first_reason(facts: NodeFacts) -> tuple[str, bool]:
    if facts.desired is DesiredState.OFFLINE:
        return "The node is stopped. Press Start to take leases.", True
    if not facts.has_wallet:
        return "This node has no wallet yet. Create or import one.", True
    if facts.registered is False:
        return "This wallet is not registered as a Fizz node. Register it first.", True
    if facts.error:
        return facts.error, True
    if not facts.connected:
        return "Not connected to the gateway yet; retrying.", True
    if facts.desired is DesiredState.PAUSED:
        until = f" {facts.paused_until_text}" if facts.paused_until_text else ""
        return f"Paused by you{until}. Press Resume to take leases.", True
    if facts.policy_reason:
        return f"{facts.policy_reason}. Change this under Limits if it is not what you want.", True
    if not facts.runtimes_available:
        return "No job runtime is available. Install and start Docker or Podman.", True
    if facts.free_cpu_millicores <= 0:
        return "Every offered resource is in use by running leases.", False
    if facts.market_refusal and not facts.leases_running:
        return (
            f"Online, but {facts.market_refusal}. Lower your prices or offer more to take "
            "such orders."
        ), False
    if not facts.container_engine:
        return (
            "No container engine answers, so only WebAssembly jobs can come. Start Docker "
            "or Podman to take container leases too."
        ), False
    return "", False
