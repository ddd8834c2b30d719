"""Secret stores: the real Secret Service (private gnome-keyring), backend vetting, errors."""

from __future__ import annotations

import secrets
import traceback
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import keyring
import keyring.backends.fail
import keyring.backends.null
import pytest
from keyring.backend import KeyringBackend
from keyrings.alt.file import PlaintextKeyring

from fizz_app.core.errors import UserFacingError
from fizz_app.core.secrets import (
    KeyringSecretStore,
    MemorySecretStore,
    SecretStore,
    SecretStoreError,
    find_os_keyring,
    keyring_backend_problem,
    open_os_secret_store,
    os_keyring_available,
)


@pytest.fixture
def service_name() -> str:
    """A service name of this test's own, so tests sharing the session keyring never collide."""
    return f"FizzNodeTest-{secrets.token_hex(4)}"


@pytest.fixture
def use_keyring() -> Iterator[None]:
    """Lets a test call ``keyring.set_keyring``; the previous global backend comes back after."""
    previous = keyring.get_keyring()
    yield
    keyring.set_keyring(previous)


@pytest.fixture
def plaintext_keyring(tmp_path: Path) -> PlaintextKeyring:
    """keyrings.alt's plain-text file keyring, writing into the test's folder if it ever writes."""
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "plaintext" / "keyring_pass.cfg")
    return backend


def _unreachable_bus(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-such-bus'}")


def _assert_plain(error: UserFacingError, *secret_values: str) -> None:
    """The error reads as one plain sentence with a remedy, no traceback, no secret."""
    text = str(error)
    assert error.remedy
    assert "Traceback" not in text and 'File "' not in text
    rendered = "".join(traceback.format_exception(error))
    for value in secret_values:
        assert value not in text
        assert value not in repr(error)
        assert value not in rendered


# ---- KeyringSecretStore on the real Secret Service -----------------------------------------------


def test_round_trip_on_the_secret_service(
    secret_service: KeyringBackend, service_name: str
) -> None:
    store = KeyringSecretStore(service_name, keyring_backend=secret_service)
    value = secrets.token_hex(32)

    assert store.get("node-wallet") is None
    store.set("node-wallet", value)
    assert store.get("node-wallet") == value
    store.set("node-wallet", "replaced value")
    assert store.get("node-wallet") == "replaced value"


def test_delete_removes_the_entry_and_is_idempotent(
    secret_service: KeyringBackend, service_name: str
) -> None:
    store = KeyringSecretStore(service_name, keyring_backend=secret_service)
    store.set("a", "first secret")
    store.set("b", "second secret")

    store.delete("a")
    store.delete("a")  # already gone: no error
    store.delete("never-there")

    assert store.get("a") is None
    assert store.get("b") == "second secret"


def test_entries_are_separate_per_service(
    secret_service: KeyringBackend, service_name: str
) -> None:
    ours = KeyringSecretStore(service_name, keyring_backend=secret_service)
    theirs = KeyringSecretStore(service_name + "-other", keyring_backend=secret_service)
    ours.set("node-wallet", "ours")

    assert theirs.get("node-wallet") is None


def test_describe_and_repr_name_the_backend_not_the_secrets(
    secret_service: KeyringBackend, service_name: str
) -> None:
    store = KeyringSecretStore(service_name, keyring_backend=secret_service)
    value = secrets.token_hex(32)
    store.set("node-wallet", value)

    assert store.describe() == "Secret Service (GNOME Keyring or compatible)"
    assert "SecretService" in repr(store)
    assert value not in repr(store) and value not in str(store)
    assert isinstance(store, SecretStore)


def test_default_backend_is_the_keyring_librarys_choice(
    secret_service: KeyringBackend, use_keyring: None, service_name: str
) -> None:
    keyring.set_keyring(secret_service)
    store = KeyringSecretStore(service_name)
    store.set("x", "value-x")

    assert secret_service.get_password(service_name, "x") == "value-x"


# ---- Which backends count as a secure OS keyring -------------------------------------------------


def test_secret_service_is_available(secret_service: KeyringBackend, use_keyring: None) -> None:
    assert find_os_keyring(secret_service) is secret_service
    keyring.set_keyring(secret_service)
    assert os_keyring_available()
    assert find_os_keyring() is secret_service


def test_open_os_secret_store_follows_availability(
    secret_service: KeyringBackend, use_keyring: None, plaintext_keyring: PlaintextKeyring
) -> None:
    keyring.set_keyring(secret_service)
    store = open_os_secret_store()
    assert store is not None and store.describe().startswith("Secret Service")

    keyring.set_keyring(plaintext_keyring)
    assert open_os_secret_store() is None


def test_the_probe_leaves_no_entry_behind(secret_service: KeyringBackend) -> None:
    import secretstorage

    with closing(secretstorage.dbus_init()) as connection:
        collection = secretstorage.get_default_collection(connection)
        before = {item.item_path for item in collection.get_all_items()}
        assert os_keyring_available(secret_service)
        after = {item.item_path for item in collection.get_all_items()}

    assert after == before


def test_fail_backend_is_not_available(use_keyring: None) -> None:
    keyring.set_keyring(keyring.backends.fail.Keyring())

    assert not os_keyring_available()
    assert find_os_keyring() is None
    assert "fail" in (keyring_backend_problem(keyring.get_keyring()) or "")


def test_null_backend_is_not_available(use_keyring: None) -> None:
    keyring.set_keyring(keyring.backends.null.Keyring())

    assert not os_keyring_available()


def test_plaintext_keyring_is_never_accepted(
    plaintext_keyring: PlaintextKeyring, use_keyring: None, tmp_path: Path
) -> None:
    keyring.set_keyring(plaintext_keyring)

    assert not os_keyring_available()
    assert not os_keyring_available(plaintext_keyring)
    assert "plain text" in (keyring_backend_problem(plaintext_keyring) or "")
    with pytest.raises(SecretStoreError, match="plain text"):
        KeyringSecretStore(keyring_backend=plaintext_keyring)
    with pytest.raises(SecretStoreError):
        KeyringSecretStore()  # the global choice is the plain-text keyring
    # Judged by its class alone: not even a probe entry was written to the file.
    assert not (tmp_path / "plaintext").exists()


def test_a_secret_service_that_cannot_be_reached_is_not_available(
    secret_service: KeyringBackend, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _unreachable_bus(monkeypatch, tmp_path)

    assert not os_keyring_available(secret_service)


def test_a_locked_secret_service_is_not_available(fresh_secret_service: KeyringBackend) -> None:
    _lock_default_collection()

    assert not os_keyring_available(fresh_secret_service)


# ---- Errors --------------------------------------------------------------------------------------


def _lock_default_collection() -> None:
    import secretstorage

    with closing(secretstorage.dbus_init()) as connection:
        secretstorage.get_default_collection(connection).lock()


def test_unreachable_bus_becomes_a_plain_error_with_a_remedy(
    secret_service: KeyringBackend,
    service_name: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    store = KeyringSecretStore(service_name, keyring_backend=secret_service)
    value = "0x" + secrets.token_hex(32)
    _unreachable_bus(monkeypatch, tmp_path)

    with pytest.raises(SecretStoreError, match="could not be reached") as read:
        store.get("node-wallet")
    with pytest.raises(SecretStoreError, match="could not be reached") as write:
        store.set("node-wallet", value)
    with pytest.raises(SecretStoreError):
        store.delete("node-wallet")

    _assert_plain(read.value)
    _assert_plain(write.value, value, value[2:])
    # A failed store is not chained to the backend's exception, which might quote the value.
    assert write.value.__cause__ is None and write.value.__suppress_context__


def test_locked_keyring_says_unlock_it(fresh_secret_service: KeyringBackend) -> None:
    store = KeyringSecretStore("FizzNodeTest", keyring_backend=fresh_secret_service)
    store.set("node-wallet", "before the lock")
    value = secrets.token_hex(32)
    _lock_default_collection()

    with pytest.raises(SecretStoreError, match="is locked") as read:
        store.get("node-wallet")
    with pytest.raises(SecretStoreError, match="is locked") as write:
        store.set("node-wallet", value)

    assert "Unlock it" in read.value.remedy
    _assert_plain(read.value, "before the lock")
    _assert_plain(write.value, value)


# ---- MemorySecretStore ---------------------------------------------------------------------------


def test_memory_store_basics() -> None:
    store = MemorySecretStore()
    assert isinstance(store, SecretStore)
    assert store.get("a") is None

    store.set("a", "secret-a-value")
    store.set("b", "secret-b-value")
    store.set("a", "secret-a-newer")
    assert store.get("a") == "secret-a-newer"
    assert store.names() == ["a", "b"]

    store.delete("a")
    store.delete("a")
    assert store.get("a") is None
    assert store.names() == ["b"]
    assert store.describe() == "Memory (not saved)"
    assert "secret-b-value" not in repr(store) and "secret-b-value" not in str(store)
