"""The node wallet, in both storage modes: the real Secret Service and the keystore v3 file.

Most tests run twice: ``keyring`` stores the secret in a private gnome-keyring (the
``secret_service`` fixture), ``keystore`` in a passphrase-encrypted file. Keystore tests use a
tiny scrypt cost to stay fast; one test checks the secure default.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import os
import pickle
import random
import secrets
import stat
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.hdaccount.mnemonic import Mnemonic
from eth_account.messages import encode_defunct
from hypothesis import given
from hypothesis import strategies as st
from keyring.backend import KeyringBackend

from fizz_app.core.errors import UserFacingError
from fizz_app.core.logs import LOG_FILE_NAME, SecretRedactor, configure_logging
from fizz_app.core.secrets import KeyringSecretStore, SecretStore
from fizz_app.core.wallet import (
    DEFAULT_SCRYPT_N,
    KEYSTORE_FILE,
    METADATA_FILE,
    WalletError,
    WalletManager,
    challenge_positions,
    check_confirmation,
)

# The tests derive expected addresses with eth_account's own API, which needs this switch.
Account.enable_unaudited_hdwallet_features()

TEST_MNEMONIC = "test test test test test test test test test test test junk"
TEST_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
TEST_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
FAST_SCRYPT_N = 16
PASSPHRASE = "correct horse battery staple"


def _mnemonic(words: int = 12) -> str:
    return Mnemonic().generate(words)


def _key_of(mnemonic: str) -> str:
    return "0x" + bytes(Account.from_mnemonic(mnemonic).key).hex()


# ---- Fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def keyring_store(secret_service: KeyringBackend) -> KeyringSecretStore:
    """The real Secret Service, under a service name of this test's own."""
    return KeyringSecretStore(
        f"FizzNodeTest-{secrets.token_hex(4)}", keyring_backend=secret_service
    )


@pytest.fixture(params=["keyring", "keystore"])
def storage(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "fizz-home"


@pytest.fixture
def store(storage: str, request: pytest.FixtureRequest) -> SecretStore | None:
    """The keyring store in keyring mode, ``None`` (no OS keyring) in keystore mode."""
    if storage == "keyring":
        return request.getfixturevalue("keyring_store")  # type: ignore[no-any-return]
    return None


@pytest.fixture
def manager(data_dir: Path, store: SecretStore | None) -> WalletManager:
    return WalletManager(data_dir, store, scrypt_n=FAST_SCRYPT_N)


@pytest.fixture
def pw(storage: str) -> str | None:
    """The passphrase to pass: keystore mode needs one, keyring mode none."""
    return PASSPHRASE if storage == "keystore" else None


@pytest.fixture
def logging_into_data_dir(data_dir: Path) -> Iterator[SecretRedactor]:
    """configure_logging into data_dir/logs at DEBUG; the root logger is restored after."""
    root = logging.getLogger()
    level = root.level
    yield configure_logging(data_dir / "logs", "DEBUG")
    for handler in [h for h in root.handlers if getattr(h, "_fizz_handler", False)]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)


class RecordingStore:
    """Wraps a real store and records each call's kind and entry name (never values); can be told
    to fail the next ``set`` the way a keyring does."""

    def __init__(self, inner: SecretStore) -> None:
        self.inner = inner
        self.calls: list[tuple[str, str]] = []
        self.fail_set = False

    def get(self, name: str) -> str | None:
        self.calls.append(("get", name))
        return self.inner.get(name)

    def set(self, name: str, value: str) -> None:
        self.calls.append(("set", name))
        if self.fail_set:
            from fizz_app.core.secrets import SecretStoreError

            raise SecretStoreError("Your keyring is locked.", "Unlock it and try again.")
        self.inner.set(name, value)

    def delete(self, name: str) -> None:
        self.calls.append(("delete", name))
        self.inner.delete(name)

    def describe(self) -> str:
        return self.inner.describe()


def _metadata(data_dir: Path) -> dict[str, Any]:
    return dict(json.loads((data_dir / METADATA_FILE).read_text()))


# ---- Create and unlock ---------------------------------------------------------------------------


def test_create_derives_the_address_from_the_mnemonic(
    manager: WalletManager, pw: str | None, storage: str
) -> None:
    new = manager.create(pw)

    assert len(new.mnemonic.split()) == 12
    assert new.address == Account.from_mnemonic(new.mnemonic).address
    assert new.storage == storage
    assert manager.exists()
    assert manager.address() == new.address
    assert manager.storage_kind() == storage
    assert manager.reward_address() == new.address


def test_unlocked_wallet_signs_messages_that_recover_to_its_address(
    manager: WalletManager, pw: str | None
) -> None:
    new = manager.create(pw)

    with manager.unlock(pw) as wallet:
        assert wallet.address == new.address
        signature = wallet.sign_message("register node 42")

    assert signature.startswith("0x") and len(signature) == 2 + 130
    recovered = Account.recover_message(
        encode_defunct(text="register node 42"), signature=signature
    )
    assert recovered == new.address


def test_unlocked_wallet_signs_transactions(manager: WalletManager, pw: str | None) -> None:
    address = manager.import_mnemonic(TEST_MNEMONIC, pw)
    transaction = {
        "type": 2,
        "chainId": 31337,
        "nonce": 0,
        "to": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "value": 10**15,
        "gas": 21000,
        "maxFeePerGas": 2 * 10**9,
        "maxPriorityFeePerGas": 10**9,
    }

    raw = manager.unlock(pw).sign_transaction(transaction)

    assert isinstance(raw, bytes) and raw[0] == 2  # EIP-1559 envelope
    assert Account.recover_transaction(raw) == address


def test_unlocked_wallet_hides_its_key_and_refuses_pickling(
    manager: WalletManager, pw: str | None
) -> None:
    manager.import_private_key(TEST_KEY, pw)
    wallet = manager.unlock(pw)

    for text in (repr(wallet), str(wallet)):
        assert TEST_ADDRESS in text
        assert TEST_KEY[2:] not in text.lower()
    with pytest.raises(TypeError):
        pickle.dumps(wallet)
    with pytest.raises(TypeError):
        copy.copy(wallet)

    wallet.close()
    with pytest.raises(WalletError, match="locked"):
        wallet.sign_message("after close")


def test_new_wallet_repr_leaves_the_mnemonic_out(manager: WalletManager, pw: str | None) -> None:
    new = manager.create(pw)

    for text in (repr(new), str(new)):
        assert new.address in text
        assert new.mnemonic not in text
        assert not any(word in text.split("'") for word in new.mnemonic.split())


def test_unlock_registers_the_key_and_mnemonic_with_the_redactor(
    data_dir: Path, keyring_store: KeyringSecretStore
) -> None:
    redactor = SecretRedactor()
    WalletManager(data_dir, keyring_store).import_mnemonic(TEST_MNEMONIC)

    later = WalletManager(data_dir, keyring_store, redactor)  # e.g. the next app start
    later.unlock()

    for secret in (TEST_KEY, TEST_KEY[2:], TEST_KEY[2:].upper(), TEST_MNEMONIC):
        assert redactor.redact(f"value {secret} end") == "value [redacted] end"


def test_no_wallet_yet(manager: WalletManager) -> None:
    assert not manager.exists()
    assert manager.address() is None
    assert manager.storage_kind() is None
    with pytest.raises(WalletError, match="no wallet yet"):
        manager.unlock(PASSPHRASE)
    with pytest.raises(WalletError, match="no wallet yet"):
        manager.set_reward_address(TEST_ADDRESS)
    manager.delete()  # nothing to delete: no error


def test_describe_storage(data_dir: Path, keyring_store: KeyringSecretStore) -> None:
    assert "Secret Service" in WalletManager(data_dir, keyring_store).describe_storage()
    assert WalletManager(data_dir, None).describe_storage() == "Encrypted file (keystore v3)"
    assert WalletManager(data_dir, None).needs_passphrase
    assert not WalletManager(data_dir, keyring_store).needs_passphrase


# ---- Import --------------------------------------------------------------------------------------


def test_import_known_mnemonic(manager: WalletManager, pw: str | None) -> None:
    # Extra spaces and capitals, as people paste them.
    assert manager.import_mnemonic(f"  {TEST_MNEMONIC.upper()}\n", pw) == TEST_ADDRESS
    assert manager.address() == TEST_ADDRESS
    assert manager.unlock(pw).address == TEST_ADDRESS


@pytest.mark.parametrize("form", [TEST_KEY, TEST_KEY[2:], TEST_KEY.upper(), f" {TEST_KEY}\n"])
def test_import_known_private_key(manager: WalletManager, pw: str | None, form: str) -> None:
    assert manager.import_private_key(form, pw) == TEST_ADDRESS
    assert manager.unlock(pw).address == TEST_ADDRESS


def test_import_24_word_mnemonic(manager: WalletManager, pw: str | None) -> None:
    phrase = _mnemonic(24)
    assert manager.import_mnemonic(phrase, pw) == Account.from_mnemonic(phrase).address


_WORDS = TEST_MNEMONIC.split()


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (" ".join(_WORDS[:11]), "has 11 words; it needs 12, 15, 18, 21 or 24."),
        (" ".join(_WORDS + ["test"]), "has 13 words"),
        ("", "has 0 words"),
        (" ".join(_WORDS[:6] + ["qwertyzz"] + _WORDS[7:]), "Word 7 is not in the BIP-39 English"),
        (" ".join(["zebrax"] + _WORDS[1:]), "Word 1 is not in the BIP-39 English"),
        (" ".join(_WORDS[:11] + ["test"]), "fails its checksum"),  # "junk" carries the checksum
        (" ".join(["junk"] + _WORDS[:11]), "fails its checksum"),  # swapped order
    ],
    ids=["11-words", "13-words", "empty", "unknown-word-7", "unknown-word-1", "checksum", "order"],
)
def test_bad_mnemonic_is_refused_without_echoing_it(
    manager: WalletManager, pw: str | None, words: str, expected: str
) -> None:
    with pytest.raises(WalletError) as caught:
        manager.import_mnemonic(words, pw)

    assert expected in caught.value.message
    assert caught.value.remedy
    text = _all_text(caught.value)
    for word in {*words.split(), "qwertyzz", "zebrax", "junk", "test"}:
        assert word not in text.lower()
    assert not manager.exists()


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("0x1234", "has 4 hex digits; it needs 64"),
        (TEST_KEY + "00", "has 66 hex digits"),
        ("0x" + "zz" * 32, "must be hexadecimal digits"),
        ("", "must be hexadecimal digits"),
        ("0x" + "00" * 32, "outside the range"),
        ("0x" + "ff" * 32, "outside the range"),
    ],
    ids=["short", "long", "not-hex", "empty", "zero", "above-curve-order"],
)
def test_bad_private_key_is_refused_without_echoing_it(
    manager: WalletManager, pw: str | None, key: str, expected: str
) -> None:
    with pytest.raises(WalletError, match=expected) as caught:
        manager.import_private_key(key, pw)

    if len(key) > 6:
        assert key[2:].lower() not in _all_text(caught.value).lower()
    assert not manager.exists()


# ---- Overwrite and replace -----------------------------------------------------------------------


def test_existing_wallet_is_not_overwritten(manager: WalletManager, pw: str | None) -> None:
    first = manager.create(pw)

    for attempt in (
        lambda: manager.create(pw),
        lambda: manager.import_mnemonic(TEST_MNEMONIC, pw),
        lambda: manager.import_private_key(TEST_KEY, pw),
    ):
        with pytest.raises(WalletError, match="A wallet already exists") as caught:
            attempt()
        assert first.address[:6] in caught.value.message
        assert "recovery phrase" in caught.value.remedy

    assert manager.address() == first.address
    assert manager.unlock(pw).address == first.address


def test_replace_stores_the_new_secret_before_deleting_the_old(
    data_dir: Path, keyring_store: KeyringSecretStore
) -> None:
    recording = RecordingStore(keyring_store)
    manager = WalletManager(data_dir, recording)
    manager.create()
    old_entry = _metadata(data_dir)["keyring_entry"]
    recording.calls.clear()

    assert manager.import_mnemonic(TEST_MNEMONIC, replace=True) == TEST_ADDRESS

    new_entry = _metadata(data_dir)["keyring_entry"]
    assert new_entry != old_entry
    assert recording.calls == [("set", new_entry), ("delete", old_entry)]
    assert keyring_store.get(old_entry) is None
    assert manager.unlock().address == TEST_ADDRESS


def test_failed_replace_leaves_the_old_wallet_intact(
    data_dir: Path, keyring_store: KeyringSecretStore
) -> None:
    recording = RecordingStore(keyring_store)
    manager = WalletManager(data_dir, recording)
    old = manager.create()
    before = (data_dir / METADATA_FILE).read_bytes()
    recording.fail_set = True

    with pytest.raises(UserFacingError, match="locked"):
        manager.import_private_key(TEST_KEY, replace=True)

    assert (data_dir / METADATA_FILE).read_bytes() == before
    assert not [call for call in recording.calls if call[0] == "delete"]
    assert manager.unlock().address == old.address


def _block_metadata_write(data_dir: Path) -> Path:
    # write_atomic writes ".wallet.json.<pid>.tmp" first: a folder of that name makes the write
    # fail the way a full disk would, after the secret was stored.
    blocker = data_dir / f".{METADATA_FILE}.{os.getpid()}.tmp"
    blocker.mkdir(parents=True)
    return blocker


def test_replace_rolls_back_when_the_record_cannot_be_written(
    manager: WalletManager, pw: str | None, data_dir: Path, store: SecretStore | None
) -> None:
    old = manager.create(pw)
    old_keystore = (data_dir / KEYSTORE_FILE).read_bytes() if pw else None
    old_entry = _metadata(data_dir)["keyring_entry"]
    blocker = _block_metadata_write(data_dir)

    with pytest.raises(WalletError, match="could not be saved") as caught:
        manager.import_mnemonic(TEST_MNEMONIC, pw, replace=True)

    assert "free space" in caught.value.remedy
    blocker.rmdir()
    assert manager.address() == old.address
    assert manager.unlock(pw).address == old.address
    if old_keystore is not None:
        assert (data_dir / KEYSTORE_FILE).read_bytes() == old_keystore
    else:
        assert isinstance(store, KeyringSecretStore)
        assert store.get(old_entry) is not None


def test_replace_keystore_wallet_with_a_keyring_one_removes_the_file(
    data_dir: Path, keyring_store: KeyringSecretStore
) -> None:
    WalletManager(data_dir, None, scrypt_n=FAST_SCRYPT_N).create(PASSPHRASE)
    assert (data_dir / KEYSTORE_FILE).exists()

    # The OS keyring became available (say, a desktop session now): replace into it.
    WalletManager(data_dir, keyring_store).import_private_key(TEST_KEY, replace=True)

    assert not (data_dir / KEYSTORE_FILE).exists()
    assert _metadata(data_dir)["storage"] == "keyring"


def test_keystore_wallet_still_unlocks_when_a_keyring_appears(
    data_dir: Path, keyring_store: KeyringSecretStore
) -> None:
    address = WalletManager(data_dir, None, scrypt_n=FAST_SCRYPT_N).import_private_key(
        TEST_KEY, PASSPHRASE
    )

    later = WalletManager(data_dir, keyring_store)
    assert later.storage_kind() == "keystore"
    assert later.unlock(PASSPHRASE).address == address


# ---- Keystore fallback ---------------------------------------------------------------------------


@pytest.fixture
def keystore_manager(data_dir: Path) -> WalletManager:
    return WalletManager(data_dir, None, scrypt_n=FAST_SCRYPT_N)


@pytest.mark.parametrize(
    ("passphrase", "expected"), [(None, "A passphrase is needed"), ("", "A passphrase is needed")]
)
def test_keystore_needs_a_passphrase(
    keystore_manager: WalletManager, passphrase: str | None, expected: str
) -> None:
    with pytest.raises(WalletError, match=expected) as caught:
        keystore_manager.create(passphrase)
    assert "at least 8 characters" in caught.value.remedy
    assert not keystore_manager.exists()
    assert not (keystore_manager.keystore_path).exists()


def test_keystore_refuses_a_short_passphrase(keystore_manager: WalletManager) -> None:
    with pytest.raises(WalletError, match="too short") as caught:
        keystore_manager.import_private_key(TEST_KEY, "seven77")
    assert "seven77" not in _all_text(caught.value)
    assert not keystore_manager.exists()


def test_keystore_wrong_or_missing_passphrase(keystore_manager: WalletManager) -> None:
    keystore_manager.import_private_key(TEST_KEY, PASSPHRASE)

    with pytest.raises(WalletError) as caught:
        keystore_manager.unlock("correct horse battery stapler")
    assert caught.value.message == "The passphrase is wrong."
    assert "stapler" not in _all_text(caught.value)
    with pytest.raises(WalletError, match="protected by a passphrase"):
        keystore_manager.unlock()
    assert keystore_manager.unlock(PASSPHRASE).address == TEST_ADDRESS


def test_keystore_file_is_standard_v3_scrypt_owner_only_and_atomic(
    keystore_manager: WalletManager, data_dir: Path
) -> None:
    keystore_manager.import_mnemonic(TEST_MNEMONIC, PASSPHRASE)
    keystore_manager.import_private_key(TEST_KEY, PASSPHRASE, replace=True)  # a rewrite too

    keyfile = json.loads((data_dir / KEYSTORE_FILE).read_text())
    assert keyfile["version"] == 3
    assert keyfile["crypto"]["kdf"] == "scrypt"
    assert keyfile["crypto"]["kdfparams"]["n"] == FAST_SCRYPT_N
    assert keyfile["crypto"]["cipher"] == "aes-128-ctr"
    assert "0x" + keyfile["address"].lower() == TEST_ADDRESS.lower()
    assert "0x" + bytes(Account.decrypt(keyfile, PASSPHRASE)).hex() == TEST_KEY
    for name in (KEYSTORE_FILE, METADATA_FILE):
        assert stat.S_IMODE((data_dir / name).stat().st_mode) == 0o600
    assert sorted(p.name for p in data_dir.iterdir()) == [METADATA_FILE, KEYSTORE_FILE]


def test_keystore_keeps_no_mnemonic(keystore_manager: WalletManager, data_dir: Path) -> None:
    new = keystore_manager.create(PASSPHRASE)

    assert new.storage == "keystore"
    scan = SecretScanner()
    scan.add_mnemonic(new.mnemonic)
    assert scan.scan_dir(data_dir) == 2  # wallet.json and the keystore: no phrase, no plain key


def test_keystore_default_cost_is_the_secure_one(data_dir: Path) -> None:
    manager = WalletManager(data_dir, None)  # the production default: scrypt N = 2**18

    manager.import_private_key(TEST_KEY, PASSPHRASE)

    keyfile = json.loads((data_dir / KEYSTORE_FILE).read_text())
    assert keyfile["crypto"]["kdfparams"]["n"] == DEFAULT_SCRYPT_N == 262_144
    assert manager.unlock(PASSPHRASE).address == TEST_ADDRESS


def test_damaged_keystore_file(keystore_manager: WalletManager, data_dir: Path) -> None:
    keystore_manager.import_private_key(TEST_KEY, PASSPHRASE)
    (data_dir / KEYSTORE_FILE).write_text('{"version": 3, "crypto": {}}')
    with pytest.raises(WalletError, match="is damaged"):
        keystore_manager.unlock(PASSPHRASE)

    (data_dir / KEYSTORE_FILE).unlink()
    with pytest.raises(WalletError, match="is missing"):
        keystore_manager.unlock(PASSPHRASE)


def test_keystore_of_another_wallet_is_refused(
    keystore_manager: WalletManager, data_dir: Path
) -> None:
    keystore_manager.import_private_key(TEST_KEY, PASSPHRASE)
    other = Account.encrypt("0x" + "11" * 32, PASSPHRASE, kdf="scrypt", iterations=FAST_SCRYPT_N)
    (data_dir / KEYSTORE_FILE).write_text(json.dumps(other))

    with pytest.raises(WalletError, match="does not belong"):
        keystore_manager.unlock(PASSPHRASE)


def test_scrypt_cost_must_be_a_power_of_two(data_dir: Path) -> None:
    with pytest.raises(ValueError):
        WalletManager(data_dir, None, scrypt_n=1000)


# ---- Metadata ------------------------------------------------------------------------------------


def test_metadata_holds_public_facts_only(
    manager: WalletManager, pw: str | None, data_dir: Path, storage: str
) -> None:
    manager.import_mnemonic(TEST_MNEMONIC, pw)

    meta = _metadata(data_dir)
    assert set(meta) == {
        "schema_version",
        "address",
        "storage",
        "reward_address",
        "created_at",
        "keyring_entry",
    }
    assert meta["schema_version"] == 1
    assert meta["address"] == meta["reward_address"] == TEST_ADDRESS
    assert meta["storage"] == storage
    assert (meta["keyring_entry"] is None) == (storage == "keystore")
    text = (data_dir / METADATA_FILE).read_text()
    assert TEST_KEY[2:] not in text.lower() and "junk" not in text


def test_damaged_metadata(manager: WalletManager, pw: str | None, data_dir: Path) -> None:
    manager.create(pw)
    (data_dir / METADATA_FILE).write_text('{"schema_version": 1, "address": "nope"}')

    with pytest.raises(WalletError, match="is damaged"):
        manager.address()
    with pytest.raises(WalletError, match="is damaged"):
        manager.unlock(pw)


# ---- Reward address ------------------------------------------------------------------------------

OTHER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def test_reward_address_defaults_to_the_node_and_can_change(
    manager: WalletManager, pw: str | None
) -> None:
    manager.import_private_key(TEST_KEY, pw)
    assert manager.reward_address() == TEST_ADDRESS

    assert manager.set_reward_address(OTHER.lower()) == OTHER  # stored checksummed
    assert manager.reward_address() == OTHER
    assert manager.address() == TEST_ADDRESS
    assert manager.set_reward_address(f" {OTHER.upper().replace('0X', '0x')} ") == OTHER


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("0x70997970c51812dc3A010C7d01b50e0d17dc79C8", "capital letters do not match"),
        ("0x1234", "not an Ethereum address"),
        ("70997970C51812dc3A010C7d01b50e0d17dc79C8ab", "not an Ethereum address"),
        ("hello", "not an Ethereum address"),
        ("0x" + "0" * 40, "zero address"),
    ],
    ids=["bad-checksum", "short", "no-prefix", "text", "zero"],
)
def test_bad_reward_address_is_refused(
    manager: WalletManager, pw: str | None, address: str, expected: str
) -> None:
    manager.import_private_key(TEST_KEY, pw)

    with pytest.raises(WalletError, match=expected):
        manager.set_reward_address(address)
    assert manager.reward_address() == TEST_ADDRESS


def test_replace_keeps_a_chosen_reward_address(manager: WalletManager, pw: str | None) -> None:
    manager.create(pw)
    manager.set_reward_address(OTHER)

    manager.import_private_key(TEST_KEY, pw, replace=True)

    assert manager.reward_address() == OTHER


def test_replace_moves_a_default_reward_address_to_the_new_wallet(
    manager: WalletManager, pw: str | None
) -> None:
    manager.create(pw)

    manager.import_private_key(TEST_KEY, pw, replace=True)

    assert manager.reward_address() == TEST_ADDRESS


# ---- Keyring troubles ----------------------------------------------------------------------------


def test_keyring_entry_deleted_behind_our_back(
    data_dir: Path, keyring_store: KeyringSecretStore
) -> None:
    manager = WalletManager(data_dir, keyring_store)
    manager.import_mnemonic(TEST_MNEMONIC)
    keyring_store.delete(_metadata(data_dir)["keyring_entry"])  # e.g. the user cleaned Seahorse

    with pytest.raises(WalletError, match="no longer holds this node's wallet") as caught:
        manager.unlock()

    assert "0xf39F" in caught.value.message
    assert "recovery phrase" in caught.value.remedy
    manager.delete()  # still removable
    assert not manager.exists()


def test_damaged_keyring_entry(data_dir: Path, keyring_store: KeyringSecretStore) -> None:
    manager = WalletManager(data_dir, keyring_store)
    manager.import_mnemonic(TEST_MNEMONIC)
    entry = _metadata(data_dir)["keyring_entry"]

    for garbage in ("not json", json.dumps({"kind": "mnemonic", "value": "test " * 12})):
        keyring_store.set(entry, garbage)
        with pytest.raises(WalletError, match="is damaged") as caught:
            manager.unlock()
        assert "test test" not in _all_text(caught.value)


def test_keyring_wallet_without_a_keyring_now(
    data_dir: Path, keyring_store: KeyringSecretStore
) -> None:
    WalletManager(data_dir, keyring_store).import_private_key(TEST_KEY)
    headless = WalletManager(data_dir, None)

    assert headless.storage_kind() == "keyring"
    with pytest.raises(WalletError, match="not available now"):
        headless.unlock(PASSPHRASE)
    with pytest.raises(WalletError, match="not available now"):
        headless.delete()
    assert headless.exists()


def test_keyring_entries_are_per_wallet_not_shared(
    tmp_path: Path, keyring_store: KeyringSecretStore
) -> None:
    # Two data folders (side-by-side installs) on one keyring keep separate wallets.
    first = WalletManager(tmp_path / "one", keyring_store)
    second = WalletManager(tmp_path / "two", keyring_store)
    a = first.create().address
    second.import_private_key(TEST_KEY)

    assert first.unlock().address == a
    second.delete()
    assert first.unlock().address == a


# ---- Delete --------------------------------------------------------------------------------------


def test_delete_removes_secret_and_metadata(
    manager: WalletManager, pw: str | None, data_dir: Path, store: SecretStore | None
) -> None:
    manager.import_private_key(TEST_KEY, pw)
    entry = _metadata(data_dir)["keyring_entry"]

    manager.delete()

    assert not manager.exists()
    assert manager.address() is None
    assert list(data_dir.iterdir()) == []
    if store is not None:
        assert store.get(entry) is None
    manager.delete()
    # A new wallet can be made afterwards without replace=True.
    assert manager.import_mnemonic(TEST_MNEMONIC, pw) == TEST_ADDRESS


# ---- Confirming the recovery phrase --------------------------------------------------------------


def test_challenge_positions() -> None:
    positions = challenge_positions(random.Random(7))
    assert positions == sorted(positions)
    assert len(set(positions)) == 3
    assert all(1 <= p <= 12 for p in positions)
    assert challenge_positions(random.Random(7)) == positions
    assert len(challenge_positions(word_count=24, count=4)) == 4


def test_check_confirmation() -> None:
    phrase = "legal winner thank year wave sausage worth useful legal winner thank yellow"
    assert check_confirmation(phrase, {1: "legal", 5: " Wave ", 12: "YELLOW"})
    assert not check_confirmation(phrase, {1: "legal", 5: "wave", 12: "yellow!"})
    assert not check_confirmation(phrase, {2: "legal"})
    assert not check_confirmation(phrase, {})
    assert not check_confirmation(phrase, {0: "legal"})
    assert not check_confirmation(phrase, {13: "legal"})


@given(
    positions=st.sets(st.integers(min_value=1, max_value=12), min_size=1, max_size=12),
    data=st.data(),
)
def test_check_confirmation_ignores_case_and_spacing(
    positions: set[int], data: st.DataObject
) -> None:
    words = TEST_MNEMONIC.replace("junk", "junky").split()  # any phrase works for the check
    answers = {}
    for p in positions:
        word = "".join(data.draw(st.sampled_from([c.lower(), c.upper()])) for c in words[p - 1])
        answers[p] = (
            data.draw(st.sampled_from(["", " ", "\t"]))
            + word
            + data.draw(st.sampled_from(["", " ", "\n"]))
        )
    assert check_confirmation(" ".join(words), answers)


# ---- THE SECRET SCAN -----------------------------------------------------------------------------


def _all_text(error: BaseException) -> str:
    """Everything an error could show: str, repr, message, remedy, and the text of every
    exception a traceback would print with it (causes and contexts). Source lines are left out:
    in a traceback they show this test's own literals, not anything the wallet produced."""
    parts = [repr(error)]
    if isinstance(error, UserFacingError):
        parts += [error.message, error.remedy]
    seen: BaseException | None = error
    while seen is not None:
        parts += traceback.format_exception_only(seen)
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    return "\n".join(parts)


class SecretScanner:
    """Collects every secret a test produced and finds any of them in files or text."""

    def __init__(self) -> None:
        self.keys: list[bytes] = []
        self.mnemonics: list[str] = []
        self.passphrases: list[str] = []

    def add_key(self, key: str) -> None:
        self.keys.append(bytes.fromhex(key.removeprefix("0x")))

    def add_mnemonic(self, phrase: str) -> None:
        self.mnemonics.append(phrase)
        self.add_key(_key_of(phrase))

    def needles(self) -> list[tuple[str, bytes, bool]]:
        """(label, bytes to find, whether to match case-insensitively)."""
        found: list[tuple[str, bytes, bool]] = []
        for n, raw in enumerate(self.keys):
            hex_key = raw.hex()
            found += [
                (f"key {n} hex", hex_key.encode(), True),  # covers upper case and the 0x form
                (f"key {n} raw bytes", raw, False),
                (f"key {n} base64", base64.b64encode(raw)[:43], False),
                (f"key {n} base64url", base64.urlsafe_b64encode(raw)[:43], False),
            ]
        for n, phrase in enumerate(self.mnemonics):
            words = phrase.split()
            found.append((f"mnemonic {n}", phrase.encode(), True))
            for start in range(len(words) - 3):
                run = " ".join(words[start : start + 4])
                found.append((f"mnemonic {n} words {start + 1}-{start + 4}", run.encode(), True))
        for n, passphrase in enumerate(self.passphrases):
            found.append((f"passphrase {n}", passphrase.encode(), False))
        return found

    def scan_text(self, text: str, where: str) -> None:
        self._scan(text.encode(), where)

    def scan_dir(self, folder: Path) -> int:
        count = 0
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                self._scan(path.read_bytes(), str(path.relative_to(folder)))
                count += 1
        return count

    def _scan(self, blob: bytes, where: str) -> None:
        lowered = blob.lower()
        for label, needle, fold in self.needles():
            haystack = lowered if fold else blob
            assert (needle.lower() if fold else needle) not in haystack, f"{label} found in {where}"


def test_no_secret_ever_reaches_disk_logs_reprs_or_errors(
    storage: str,
    data_dir: Path,
    store: SecretStore | None,
    logging_into_data_dir: SecretRedactor,
) -> None:
    passphrase = f"pass-{secrets.token_hex(8)}"
    pw = passphrase if storage == "keystore" else None
    manager = WalletManager(data_dir, store, logging_into_data_dir, scrypt_n=FAST_SCRYPT_N)
    scan = SecretScanner()
    scan.passphrases.append(passphrase)
    errors: list[BaseException] = []
    objects: list[object] = [manager]

    def expect_error(action: Any) -> None:
        with pytest.raises(WalletError) as caught:
            action()
        errors.append(caught.value)

    def check(step: str) -> None:
        for handler in logging.getLogger().handlers:
            handler.flush()
        assert scan.scan_dir(data_dir) >= 1, step
        for obj in objects:
            scan.scan_text(repr(obj), f"repr after {step}")
            scan.scan_text(str(obj), f"str after {step}")
        for error in errors:
            scan.scan_text(_all_text(error), f"error text after {step}")

    # Create.
    new = manager.create(pw)
    scan.add_mnemonic(new.mnemonic)
    objects.append(new)
    check("create")

    # Unlock and sign.
    wallet = manager.unlock(pw)
    objects.append(wallet)
    wallet.sign_message("hello")
    check("unlock + sign")

    # Import a recovery phrase (after some failed attempts: wrong order, no replace, bad pass).
    imported = _mnemonic(24)
    scan.add_mnemonic(imported)
    words = imported.split()
    expect_error(lambda: manager.import_mnemonic(" ".join(words[1:] + words[:1]), pw, replace=True))
    expect_error(lambda: manager.import_mnemonic(" ".join(words[:-1]), pw, replace=True))
    expect_error(lambda: manager.import_mnemonic(imported, pw))
    if storage == "keystore":
        expect_error(lambda: manager.import_mnemonic(imported, "short", replace=True))
    assert (
        manager.import_mnemonic(imported, pw, replace=True)
        == Account.from_mnemonic(imported).address
    )
    check("import mnemonic")

    # Import a private key.
    key = "0x" + secrets.token_hex(32)
    scan.add_key(key)
    expect_error(lambda: manager.import_private_key(key[:-2], pw, replace=True))
    expect_error(lambda: manager.import_private_key(key, pw))
    manager.import_private_key(key, pw, replace=True)
    check("import key")

    # Unlock, sign a message and a transaction; a wrong passphrase in keystore mode.
    if storage == "keystore":
        expect_error(lambda: manager.unlock(passphrase + "x"))
    wallet = manager.unlock(pw)
    objects.append(wallet)
    wallet.sign_message("register")
    wallet.sign_transaction(
        {"chainId": 1, "nonce": 3, "to": OTHER, "value": 1, "gas": 21000, "gasPrice": 10**9}
    )
    logging.getLogger("fizz_app.test").debug("unlocked %r", wallet)
    check("unlock + sign")

    # Reward address.
    expect_error(lambda: manager.set_reward_address(key))
    manager.set_reward_address(OTHER)
    check("set reward")

    # Delete.
    manager.delete()
    check("delete")

    # The scan looked at real log lines about these operations.
    log_text = (data_dir / "logs" / LOG_FILE_NAME).read_text()
    assert new.address in log_text and "deleted" in log_text
    assert len(errors) >= 6


def test_the_scanner_finds_what_it_looks_for(tmp_path: Path) -> None:
    # Guard against a scan that passes because it cannot see anything.
    phrase = _mnemonic(12)
    scan = SecretScanner()
    scan.add_mnemonic(phrase)
    raw = scan.keys[0]
    words = phrase.split()
    samples = {
        "hex": raw.hex().upper().encode(),
        "raw": b"\x00" + raw,
        "base64": base64.b64encode(raw),
        "run": ("x " + " ".join(words[3:7]) + " y").encode(),
    }
    for name, blob in samples.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / "nested").mkdir()
        (folder / "nested" / "file.bin").write_bytes(blob)
        with pytest.raises(AssertionError):
            scan.scan_dir(folder)
    harmless = tmp_path / "harmless"
    harmless.mkdir()
    (harmless / "file.txt").write_text(" ".join(words[:3]) + " and " + words[3])
    assert scan.scan_dir(harmless) == 1
