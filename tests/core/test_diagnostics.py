""" "Why no jobs?" names the first thing to fix, in the order a user should fix them."""

from __future__ import annotations

import pytest

from fizz_app.core.diagnostics import NodeFacts, diagnose, why_no_jobs
from fizz_app.core.state import DesiredState

ONLINE = DesiredState.ONLINE
READY = NodeFacts(desired=ONLINE, registered=True, connected=True)


@pytest.mark.parametrize(
    "facts, words",
    [
        (NodeFacts(desired=DesiredState.OFFLINE, has_wallet=False), "stopped. Press Start"),
        (NodeFacts(desired=ONLINE, has_wallet=False, registered=False), "no wallet"),
        (NodeFacts(desired=ONLINE, registered=False, error="boom"), "not registered"),
        (NodeFacts(desired=ONLINE, registered=True, error="Gateway refused."), "Gateway refused"),
        (NodeFacts(desired=ONLINE, registered=True), "Not connected to the gateway"),
        (
            NodeFacts(
                desired=DesiredState.PAUSED,
                connected=True,
                paused_until_text="until Mon 14:00",
                policy_reason="Paused: on battery power",
            ),
            "Paused by you until Mon 14:00",
        ),
        (
            NodeFacts(desired=ONLINE, connected=True, policy_reason="Paused: on battery power"),
            "Paused: on battery power. Change this under Limits",
        ),
        (
            NodeFacts(desired=ONLINE, connected=True, runtimes_available=False),
            "Install and start Docker or Podman",
        ),
        (
            NodeFacts(desired=ONLINE, connected=True, free_cpu_millicores=0),
            "in use by running leases",
        ),
        (
            NodeFacts(desired=ONLINE, connected=True, container_engine=False),
            "only WebAssembly jobs",
        ),
    ],
)
def test_the_first_blocking_reason_is_named(facts: NodeFacts, words: str) -> None:
    assert words in why_no_jobs(facts)


def test_a_ready_node_has_no_reason() -> None:
    assert why_no_jobs(READY) == ""


@pytest.mark.parametrize(
    "facts, blocking",
    [
        (READY, False),
        (NodeFacts(desired=ONLINE, connected=True, free_cpu_millicores=0), False),
        (NodeFacts(desired=ONLINE, connected=True, container_engine=False), False),
        (
            NodeFacts(
                desired=ONLINE, connected=True, container_engine=False, policy_reason="Paused"
            ),
            True,
        ),
        (NodeFacts(desired=ONLINE, connected=False, container_engine=False), True),
    ],
)
def test_full_or_wasm_only_nodes_are_online_not_blocked(facts: NodeFacts, blocking: bool) -> None:
    assert diagnose(facts)[1] is blocking
