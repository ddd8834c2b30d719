"""Tests for fizz_app.core.state: the status enums and NodeSnapshot's JSON round trip."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fizz_app.core.checks import Verdict
from fizz_app.core.report import HardwareReport
from fizz_app.core.state import DesiredState, NodeSnapshot, NodeStatus

SNAPSHOT_KEYS = {
    "seq",
    "version",
    "status",
    "status_reason",
    "desired",
    "network",
    "profile",
    "data_dir",
    "hardware",
    "verdict",
    "checked_at",
    "accepting",
    "why_no_jobs",
    "paused_until",
    "wallet_address",
    "gateway",
    "leases",
    "prices",
    "earnings",
    "chain",
}


def make_snapshot(**changes: Any) -> NodeSnapshot:
    snapshot = NodeSnapshot(
        seq=42,
        version="0.1.0",
        status=NodeStatus.ONLINE,
        status_reason="Connected to the devnet gateway.",
        desired=DesiredState.ONLINE,
        network="devnet",
        profile="devnet",
        data_dir="/home/ada/.local/share/FizzNode",
    )
    return dataclasses.replace(snapshot, **changes)


def round_trip(snapshot: NodeSnapshot) -> NodeSnapshot:
    return NodeSnapshot.from_dict(json.loads(json.dumps(snapshot.to_dict())))


def test_node_status_values_are_lowercase_strings() -> None:
    assert {status.value for status in NodeStatus} == {
        "starting",
        "offline",
        "connecting",
        "online",
        "paused",
        "error",
    }
    for status in NodeStatus:
        assert status == status.value == status.name.lower()
        assert isinstance(status.value, str)


def test_desired_state_values_are_lowercase_strings() -> None:
    assert {desired.value for desired in DesiredState} == {"online", "paused", "offline"}
    for desired in DesiredState:
        assert desired == desired.name.lower()
    assert f"{DesiredState.PAUSED}" == "paused"


def test_snapshot_without_hardware_round_trips() -> None:
    snapshot = make_snapshot()
    data = snapshot.to_dict()
    assert set(data) == SNAPSHOT_KEYS
    assert data["status"] == "online" and type(data["status"]) is str
    assert data["desired"] == "online" and type(data["desired"]) is str
    assert (data["hardware"], data["verdict"], data["checked_at"]) == (None, None, None)
    assert data["chain"] is None  # not online
    restored = round_trip(snapshot)
    assert restored == snapshot
    assert restored.status is NodeStatus.ONLINE
    assert restored.desired is DesiredState.ONLINE


def test_snapshot_with_hardware_and_verdict_round_trips(
    sample_report: HardwareReport, sample_verdict: Verdict
) -> None:
    snapshot = make_snapshot(
        status=NodeStatus.PAUSED,
        desired=DesiredState.PAUSED,
        hardware=sample_report,
        verdict=sample_verdict,
        checked_at=1_700_000_123.5,
    )
    data = snapshot.to_dict()
    assert data["hardware"] == sample_report.to_dict()
    assert data["verdict"]["meets_minimum"] is sample_verdict.meets_minimum
    restored = round_trip(snapshot)
    assert restored == snapshot
    assert restored.hardware is not None
    assert len(restored.hardware.gpu.gpus) == 2
    assert restored.verdict is not None
    assert restored.verdict.check("gpu") == sample_verdict.check("gpu")


def test_snapshot_with_an_unreachable_chain_round_trips() -> None:
    chain = {
        "reachable": False,
        "checked_at": 1_700_000_200.0,
        "unreachable_since": 1_700_000_100.0,
        "error": "Cannot reach the Local devnet network at http://127.0.0.1:8545. Check ...",
        "rpc": "http://127.0.0.1:8545",
        "next_check_at": 1_700_000_210.0,
    }
    snapshot = make_snapshot(chain=chain)
    assert snapshot.to_dict()["chain"] == chain
    assert round_trip(snapshot) == snapshot


def test_snapshot_evolve_returns_a_changed_copy() -> None:
    snapshot = make_snapshot()
    evolved = snapshot.evolve(seq=43, status=NodeStatus.ERROR, status_reason="Wallet locked.")
    assert (evolved.seq, evolved.status, evolved.status_reason) == (
        43,
        NodeStatus.ERROR,
        "Wallet locked.",
    )
    assert evolved.network == snapshot.network
    assert (snapshot.seq, snapshot.status) == (42, NodeStatus.ONLINE)
    with pytest.raises(TypeError):
        snapshot.evolve(colour="blue")


def test_snapshot_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        make_snapshot().seq = 1  # type: ignore[misc]


def test_snapshot_from_dict_rejects_an_unknown_status() -> None:
    data = make_snapshot().to_dict()
    data["status"] = "sleeping"
    with pytest.raises(ValueError):
        NodeSnapshot.from_dict(data)


@given(
    seq=st.integers(min_value=0, max_value=2**53),
    status=st.sampled_from(NodeStatus),
    desired=st.sampled_from(DesiredState),
    text=st.text(),
    checked_at=st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
)
def test_snapshot_round_trip_property(
    seq: int, status: NodeStatus, desired: DesiredState, text: str, checked_at: float | None
) -> None:
    snapshot = make_snapshot(
        seq=seq,
        status=status,
        desired=desired,
        status_reason=text,
        network=text,
        data_dir=text,
        checked_at=checked_at,
    )
    assert round_trip(snapshot) == snapshot
