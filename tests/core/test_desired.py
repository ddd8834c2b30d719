"""The desired state survives restarts, and a damaged file costs nothing but the pause."""

from __future__ import annotations

from pathlib import Path

from fizz_app.core.desired import Desired, DesiredStore
from fizz_app.core.state import DesiredState


def test_a_fresh_node_is_offline_with_a_stable_instance_id(tmp_path: Path) -> None:
    first = DesiredStore(tmp_path).load()
    assert first.state is DesiredState.OFFLINE
    assert len(first.instance_id) == 32
    assert DesiredStore(tmp_path).load() == first


def test_the_users_choice_is_kept_across_restarts(tmp_path: Path) -> None:
    store = DesiredStore(tmp_path)
    saved = store.update(store.load(), state=DesiredState.PAUSED, paused_until=1000.0)
    again = DesiredStore(tmp_path).load()
    assert again == saved
    assert again.effective(999.0) is DesiredState.PAUSED
    assert again.effective(1000.0) is DesiredState.ONLINE
    assert Desired(DesiredState.PAUSED, None, "x" * 32).effective(1e12) is DesiredState.PAUSED


def test_a_damaged_file_is_moved_aside_and_the_node_starts_offline(tmp_path: Path) -> None:
    (tmp_path / "node-state.json").write_text('{"state": "sideways"')
    desired = DesiredStore(tmp_path).load()
    assert desired.state is DesiredState.OFFLINE
    assert (tmp_path / "node-state.json.bad").read_text() == '{"state": "sideways"'
    assert DesiredStore(tmp_path).load() == desired
