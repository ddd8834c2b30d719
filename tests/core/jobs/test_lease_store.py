"""The lease book on disk: transitions, durability, damaged files, nothing secret written."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from fizz_app.core.jobs.lease_store import LeaseState, LeaseStore, LeaseStoreError
from fizz_app.core.jobs.manifest import parse_manifest
from fizz_app.core.jobs.runner import JobUsage

MANIFEST = parse_manifest(
    {
        "name": "web",
        "image": "localhost/fizz-test:1",
        "env": ["API_TOKEN=tenant-secret-7f3a"],
        "command": ["sh", "-c", "echo tenant-cmdline-91b2"],
        "resources": {"cpu": {"units": {"val": "250"}}, "memory": {"size": {"val": "67108864"}}},
        "expose": [{"port": 8080}],
    }
)


@pytest.fixture
def store(tmp_path: Path) -> LeaseStore:
    return LeaseStore(tmp_path / "leases" / "leases.db")


def test_a_lease_goes_through_its_states_and_keeps_them_across_reopen(
    tmp_path: Path, store: LeaseStore
) -> None:
    lease = store.add("42", MANIFEST, ends_at=1e12)
    assert (lease.state, lease.cpu_millicores, lease.memory_bytes) == (
        LeaseState.PENDING,
        250,
        64 * 1024**2,
    )
    for state in (LeaseState.PREPARING, LeaseState.STARTING):
        store.update("42", state=state)
    store.update("42", state=LeaseState.RUNNING, ports={8080: 40123})
    store.update("42", usage=JobUsage(1.5, 1000, 10, 20))
    store.close()

    reopened = LeaseStore(tmp_path / "leases" / "leases.db")
    lease = reopened.get("42")
    assert lease is not None
    assert lease.state is LeaseState.RUNNING
    assert lease.ports == {8080: 40123}
    assert lease.usage == JobUsage(1.5, 1000, 10, 20)
    assert lease.ends_at == 1e12
    assert [found.lease_id for found in reopened.all(active_only=True)] == ["42"]
    assert lease.to_dict()["ports"] == {"8080": 40123}


def test_final_states_never_change_and_skipping_states_is_refused(store: LeaseStore) -> None:
    store.add("1", MANIFEST, ends_at=None)
    with pytest.raises(ValueError, match="cannot go from pending to running"):
        store.update("1", state=LeaseState.RUNNING)
    store.update("1", state=LeaseState.FAILED, reason="image missing")
    with pytest.raises(ValueError, match="from failed to closed"):
        store.update("1", state=LeaseState.CLOSED)
    assert store.all(active_only=True) == []
    assert store.all()[0].reason == "image missing"


def test_duplicate_and_unknown_ids(store: LeaseStore) -> None:
    store.add("1", MANIFEST, ends_at=None)
    with pytest.raises(KeyError):
        store.add("1", MANIFEST, ends_at=None)
    with pytest.raises(KeyError):
        store.update("nope", state=LeaseState.CLOSED)
    assert store.get("nope") is None


def test_the_tenants_env_and_command_never_reach_disk(tmp_path: Path, store: LeaseStore) -> None:
    store.add("1", MANIFEST, ends_at=None)
    store.update("1", state=LeaseState.PREPARING)
    store.close()
    for file in (tmp_path / "leases").iterdir():
        content = file.read_bytes()
        assert b"tenant-secret-7f3a" not in content, file
        assert b"tenant-cmdline-91b2" not in content, file


def test_the_book_is_in_wal_mode(tmp_path: Path, store: LeaseStore) -> None:
    store.add("1", MANIFEST, ends_at=None)
    db = sqlite3.connect(tmp_path / "leases" / "leases.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_a_damaged_file_is_moved_aside_not_lost(tmp_path: Path) -> None:
    path = tmp_path / "leases.db"
    path.write_bytes(b"this is not sqlite" * 100)
    store = LeaseStore(path, clock=lambda: 1234.0)
    assert store.moved_aside == tmp_path / "leases.db.corrupt-1234"
    assert store.moved_aside.read_bytes() == b"this is not sqlite" * 100
    store.add("1", MANIFEST, ends_at=None)
    assert store.get("1") is not None


def test_a_book_from_a_newer_app_is_refused_with_a_remedy(tmp_path: Path) -> None:
    path = tmp_path / "leases.db"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(LeaseStoreError, match="newer version of the app") as caught:
        LeaseStore(path)
    assert "Update the app" in caught.value.remedy
    assert path.exists()


def test_an_unwritable_folder_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(LeaseStoreError, match="cannot be opened"):
        LeaseStore(blocker / "leases.db")


def test_concurrent_writers_do_not_lose_updates(store: LeaseStore) -> None:
    for index in range(8):
        store.add(str(index), MANIFEST, ends_at=None)

    def run(lease_id: str) -> None:
        for step in range(50):
            store.update(lease_id, usage=JobUsage(cpu_seconds=float(step)))

    threads = [threading.Thread(target=run, args=(str(index),)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {lease.usage.cpu_seconds for lease in store.all()} == {49.0}
