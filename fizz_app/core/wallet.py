"""The node's one wallet: create or import it, keep its secret safe, unlock it to sign.

Use :class:`WalletManager`. Where the secret lives depends on the ``store`` it is given:

* **OS keyring** (a :class:`~fizz_app.core.secrets.SecretStore`): the recovery phrase (or, for
  an imported private key, the key) goes into the keyring as JSON
  ``{"kind": "mnemonic" | "private_key", "value": ...}`` under an entry name that is unique to
  this wallet (``node-wallet-<random id>``). No passphrase is needed.
* **Encrypted keystore file** (``store=None``, no usable OS keyring): the private key is
  encrypted with a passphrase into ``wallet.keystore.json``, a standard Ethereum keystore v3 file
  (scrypt + AES-128-CTR) that other wallets can open. A passphrase of at least 8 characters is
  required. The recovery phrase is **not** kept on disk in this mode, not even encrypted: the
  user writes it down when the app shows it (:class:`NewWallet`), and that paper copy is the
  only backup. Keeping it would add a second, non-standard encrypted blob for no gain, since
  the node only ever needs the key.

Either way, ``wallet.json`` beside them holds only public facts (address, reward address,
storage kind, creation time). Secrets never reach the logs, error text or ``repr()``: the
manager registers them with the log :class:`~fizz_app.core.logs.SecretRedactor` as soon as it
holds them, and validates recovery phrases itself so that no library error can quote one.

Every method blocks (keyring calls, scrypt): the engine calls them through
``asyncio.to_thread``.
"""

from __future__ import annotations

import hmac
import json
import logging
import random
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, NoReturn, cast

from eth_account import Account
from eth_account.hdaccount import ETHEREUM_DEFAULT_PATH, key_from_seed
from eth_account.hdaccount.mnemonic import Mnemonic
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_account.types import Language
from eth_utils.address import is_checksum_address, is_hex_address, to_checksum_address

from .atomic import write_atomic
from .errors import UserFacingError
from .logs import SecretRedactor
from .secrets import SecretStore

__all__ = [
    "DEFAULT_SCRYPT_N",
    "METADATA_FILE",
    "KEYSTORE_FILE",
    "MIN_PASSPHRASE_LENGTH",
    "StorageKind",
    "WalletError",
    "NewWallet",
    "UnlockedWallet",
    "WalletManager",
    "challenge_positions",
    "check_confirmation",
]

log = logging.getLogger(__name__)

StorageKind = Literal["keyring", "keystore"]

METADATA_FILE = "wallet.json"
"""Public facts about the wallet, in the data folder. Never holds a secret."""
KEYSTORE_FILE = "wallet.keystore.json"
"""The passphrase-encrypted key (keystore v3), used only when there is no OS keyring."""
SCHEMA_VERSION = 1
"""Version of ``wallet.json`` this build writes."""
DEFAULT_SCRYPT_N = 262_144
"""scrypt cost (N) for new keystore files: geth's and eth_account's standard (about 1 s)."""
MIN_PASSPHRASE_LENGTH = 8
"""Shortest passphrase accepted for the keystore file."""
WORD_COUNTS = (12, 15, 18, 21, 24)
"""Lengths a BIP-39 recovery phrase can have."""
NEW_WALLET_WORDS = 12
"""Length of the recovery phrase of a new wallet."""
KEYSTORE_DESCRIPTION = "Encrypted file (keystore v3)"
"""What :meth:`WalletManager.describe_storage` says in keystore mode."""

_ENTRY_PREFIX = "node-wallet-"
# secp256k1 group order: a private key must lie in [1, N - 1].
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_REIMPORT = "Import the wallet again from its recovery phrase (or private key)."


class WalletError(UserFacingError):
    """A wallet operation failed for a reason the user can fix. Nothing was changed.

    Its text never contains a key, a recovery phrase, a passphrase or any part of them.
    """


def _short(address: str) -> str:
    return f"{address[:6]}…{address[-4:]}"


# ---- Public types -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewWallet:
    """A wallet just created. Show ``mnemonic`` to the user ONCE, ask them to write it down and
    confirm a few words (:func:`challenge_positions`, :func:`check_confirmation`), then drop
    this object. ``repr()`` and ``str()`` leave the phrase out.

    Attributes:
        address: the node's checksummed address.
        mnemonic: the 12-word recovery phrase; in keystore mode this is its only copy.
        storage: where the secret was stored.
    """

    address: str
    mnemonic: str = field(repr=False)
    storage: StorageKind


class UnlockedWallet:
    """The wallet with its key in memory, able to sign. Get one from
    :meth:`WalletManager.unlock`; call :meth:`close` (or use ``with``) when done.

    The key is never shown by ``repr()``/``str()`` and the object refuses to be pickled or
    copied, so it cannot slip into a snapshot or an event.
    """

    __slots__ = ("_account", "_address")

    def __init__(self, account: LocalAccount) -> None:
        self._account: LocalAccount | None = account
        self._address = str(account.address)

    def __repr__(self) -> str:
        state = "closed" if self._account is None else "unlocked"
        return f"UnlockedWallet(address={self._address}, {state})"

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("An unlocked wallet cannot be pickled or copied (it holds a key).")

    def __enter__(self) -> UnlockedWallet:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def address(self) -> str:
        """The wallet's checksummed address."""
        return self._address

    def close(self) -> None:
        """Forget the key. Signing afterwards raises :class:`WalletError`.

        Python cannot wipe memory, so this only drops the reference; it keeps the key's lifetime
        as short as the caller's use of it.
        """
        self._account = None

    def sign_message(self, text: str) -> str:
        """Sign ``text`` the way ``personal_sign`` does (EIP-191, version ``0x45``).

        Returns:
            The 65-byte signature as ``0x``-prefixed hex; ``Account.recover_message`` gives
            back :attr:`address`.
        """
        signed = self._require().sign_message(encode_defunct(text=text))
        return signed.signature.to_0x_hex()

    def sign_transaction(self, transaction: dict[str, Any]) -> bytes:
        """Sign a transaction dict (``chainId``, ``nonce``, gas fields, ``to``, ``value``...).

        Returns:
            The raw signed transaction, ready for ``eth_sendRawTransaction``.
        """
        signed = self._require().sign_transaction(transaction)
        return bytes(signed.raw_transaction)

    def _require(self) -> LocalAccount:
        if self._account is None:
            raise WalletError("The wallet is locked.", "Unlock it again, then retry.")
        return self._account


@dataclass(frozen=True)
class _Metadata:
    address: str
    storage: StorageKind
    reward_address: str
    created_at: str
    keyring_entry: str | None

    def to_json(self) -> bytes:
        raw = {
            "schema_version": SCHEMA_VERSION,
            "address": self.address,
            "storage": self.storage,
            "reward_address": self.reward_address,
            "created_at": self.created_at,
            "keyring_entry": self.keyring_entry,
        }
        return (json.dumps(raw, indent=2) + "\n").encode("utf-8")


@dataclass(frozen=True)
class _Secret:
    """A validated secret on its way to storage. Never logged; repr hides the value."""

    kind: Literal["mnemonic", "private_key"]
    value: str = field(repr=False)
    account: LocalAccount = field(repr=False)


# ---- Recovery-phrase confirmation ---------------------------------------------------------------


def challenge_positions(
    rng: random.Random | None = None, *, word_count: int = NEW_WALLET_WORDS, count: int = 3
) -> list[int]:
    """Pick which words the user must type back to prove they wrote the phrase down.

    Args:
        rng: source of randomness; ``None`` uses the OS's (``random.SystemRandom``). Tests pass
            a seeded ``random.Random``.
        word_count: the phrase's length.
        count: how many words to ask for.

    Returns:
        ``count`` distinct 1-based positions, ascending (ask in reading order).
    """
    chooser = rng if rng is not None else random.SystemRandom()
    return sorted(chooser.sample(range(1, word_count + 1), count))


def check_confirmation(mnemonic: str, answers: dict[int, str]) -> bool:
    """Return whether every answer matches the word at its 1-based position.

    Case and surrounding spaces are ignored. No answers, or a position outside the phrase,
    is ``False``.
    """
    words = mnemonic.split()
    if not answers:
        return False
    ok = True
    for position, answer in answers.items():
        if not 1 <= position <= len(words):
            return False
        # Compare every answer in constant time and without stopping early, so timing does not
        # tell which word was wrong.
        expected = words[position - 1].lower().encode()
        ok &= hmac.compare_digest(answer.strip().lower().encode(), expected)
    return ok


# ---- Validation ---------------------------------------------------------------------------------


def _validate_mnemonic(words: str) -> str:
    """Return the phrase normalised (lower case, single spaces), or raise :class:`WalletError`
    naming the problem by position, never by word."""
    parts = words.lower().split()
    if len(parts) not in WORD_COUNTS:
        raise WalletError(
            f"The recovery phrase has {len(parts)} words; it needs 12, 15, 18, 21 or 24.",
            "Type every word of the phrase, separated by spaces.",
        )
    checker = Mnemonic(Language.ENGLISH)
    known = frozenset(checker.wordlist)
    for position, word in enumerate(parts, start=1):
        if word not in known:
            raise WalletError(
                f"Word {position} is not in the BIP-39 English word list.",
                "Check its spelling against your written copy.",
            )
    phrase = " ".join(parts)
    if not checker.is_mnemonic_valid(phrase):
        raise WalletError(
            "The recovery phrase fails its checksum: a word is wrong or two words are swapped.",
            "Compare each word and its order with your written copy.",
        )
    return phrase


def _from_key(key: str | bytes) -> LocalAccount:
    return cast(LocalAccount, Account.from_key(key))


def _account_from_mnemonic(phrase: str) -> LocalAccount:
    # The same derivation Account.from_mnemonic uses (BIP-39 seed, BIP-32 path m/44'/60'/0'/0/0),
    # called directly: Account's wrapper needs a process-wide "unaudited features" switch and
    # first runs a language detection whose errors quote the phrase.
    seed = Mnemonic.to_seed(phrase)
    return _from_key(key_from_seed(seed, ETHEREUM_DEFAULT_PATH))


def _validate_private_key(hex_key: str) -> str:
    """Return the key as ``0x`` + 64 lower-case hex digits, or raise :class:`WalletError`."""
    text = hex_key.strip()
    if text[:2].lower() == "0x":
        text = text[2:]
    if not text or any(ch not in _HEX_DIGITS for ch in text):
        raise WalletError(
            "The private key must be hexadecimal digits (0-9, a-f), optionally after 0x.",
            "Copy the key again from where you exported it.",
        )
    if len(text) != 64:
        raise WalletError(
            f"The private key has {len(text)} hex digits; it needs 64.",
            "Copy the whole key again from where you exported it.",
        )
    if not 1 <= int(text, 16) < _SECP256K1_N:
        raise WalletError(
            "The private key is outside the range of valid Ethereum keys.",
            "Copy the key again from where you exported it.",
        )
    return "0x" + text.lower()


def _validate_reward_address(address: str) -> str:
    text = address.strip()
    if not is_hex_address(text):
        raise WalletError(
            "That is not an Ethereum address: it needs 0x followed by 40 hexadecimal digits.",
            "Copy the address again from your wallet.",
        )
    # Mixed case carries the EIP-55 checksum; all-lower or all-upper carries none to check.
    body = text[2:]
    if body != body.lower() and body != body.upper() and not is_checksum_address(text):
        raise WalletError(
            "That address has a typo: its capital letters do not match its checksum.",
            "Copy the address again from your wallet instead of typing it.",
        )
    if int(body, 16) == 0:
        raise WalletError(
            "The zero address cannot receive rewards.", "Enter the address of a wallet you own."
        )
    return str(to_checksum_address(text))


def _check_new_passphrase(passphrase: str | None) -> str:
    if passphrase is None or passphrase == "":
        raise WalletError(
            "A passphrase is needed: this computer has no OS keyring, so the wallet is kept in "
            "a file encrypted with it.",
            f"Choose a passphrase of at least {MIN_PASSPHRASE_LENGTH} characters; the node asks "
            "for it each time it starts.",
        )
    if len(passphrase) < MIN_PASSPHRASE_LENGTH:
        raise WalletError(
            f"The passphrase is too short: use at least {MIN_PASSPHRASE_LENGTH} characters.",
            "A few unrelated words make a passphrase that is long and easy to remember.",
        )
    return passphrase


def _write_file(path: Path, data: bytes) -> None:
    """Write atomically with mode 0600 (owner only); a failure becomes a WalletError."""
    try:
        write_atomic(path, data, mode=0o600)
    except OSError as exc:
        raise WalletError(
            f"The wallet could not be saved in the data folder ({exc.strerror or 'write failed'}).",
            "Check that the disk has free space and the data folder is writable, then try again.",
        ) from exc


# ---- The manager --------------------------------------------------------------------------------


class WalletManager:
    """Creates, imports, unlocks and deletes the node's one wallet.

    Args:
        data_dir: the app's data folder (``paths.data_dir()``); ``wallet.json`` and, in
            keystore mode, ``wallet.keystore.json`` live there.
        store: the OS keyring (``secrets.open_os_secret_store()``), or ``None`` when there is
            none: new wallets then go to the encrypted keystore file and
            need a passphrase (:attr:`needs_passphrase`).
        redactor: the log redactor from ``configure_logging``; every secret the manager touches
            is registered with it before anything could log it.
        scrypt_n: scrypt cost for new keystore files. Keep the default; tests pass a small power
            of two to run fast. Unlocking always uses the cost written in the file.

    Methods raise :class:`WalletError` (and :class:`~fizz_app.core.secrets.SecretStoreError`
    from the keyring); show ``str(error)`` to the user. Safe to call from several threads.
    """

    def __init__(
        self,
        data_dir: Path,
        store: SecretStore | None,
        redactor: SecretRedactor | None = None,
        *,
        scrypt_n: int = DEFAULT_SCRYPT_N,
    ) -> None:
        if scrypt_n < 2 or scrypt_n & (scrypt_n - 1):
            raise ValueError("scrypt_n must be a power of two of at least 2")
        self._data_dir = data_dir
        self._store = store
        self._redactor = redactor
        self._scrypt_n = scrypt_n
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        backend = self._store.describe() if self._store is not None else KEYSTORE_DESCRIPTION
        return f"WalletManager(data_dir={str(self._data_dir)!r}, new_wallets_go_to={backend!r})"

    # ---- Public API: facts (no secret access) ---------------------------------------------------

    @property
    def metadata_path(self) -> Path:
        """``wallet.json`` in the data folder."""
        return self._data_dir / METADATA_FILE

    @property
    def keystore_path(self) -> Path:
        """``wallet.keystore.json`` in the data folder (present in keystore mode only)."""
        return self._data_dir / KEYSTORE_FILE

    @property
    def needs_passphrase(self) -> bool:
        """Whether :meth:`create` and the imports need a passphrase (no OS keyring here)."""
        return self._store is None

    def exists(self) -> bool:
        """Return whether this node has a wallet."""
        return self.metadata_path.exists()

    def address(self) -> str | None:
        """Return the wallet's address, or ``None`` when there is no wallet. No unlock needed."""
        meta = self._read_metadata()
        return meta.address if meta is not None else None

    def reward_address(self) -> str | None:
        """Return where rewards go (the node's own address unless changed), or ``None``."""
        meta = self._read_metadata()
        return meta.reward_address if meta is not None else None

    def storage_kind(self) -> StorageKind | None:
        """Return where the existing wallet's secret lives, or ``None`` when there is none.

        ``"keystore"`` means :meth:`unlock` needs the passphrase.
        """
        meta = self._read_metadata()
        return meta.storage if meta is not None else None

    def describe_storage(self) -> str:
        """Name, for people, the place that holds (or would hold) the wallet's secret."""
        kind = self.storage_kind() or ("keyring" if self._store is not None else "keystore")
        if kind == "keystore":
            return KEYSTORE_DESCRIPTION
        return self._store.describe() if self._store is not None else "OS keyring (unavailable)"

    # ---- Public API: create and import ---------------------------------------------------------

    def create(self, passphrase: str | None = None, *, replace: bool = False) -> NewWallet:
        """Create a wallet with a new 12-word recovery phrase and store it.

        Args:
            passphrase: required in keystore mode (:attr:`needs_passphrase`), at least 8
                characters; ignored when the OS keyring holds the secret.
            replace: allow replacing an existing wallet (its secret is removed only after the
                new one is safely stored). Warn the user first: without the old recovery
                phrase, the old wallet's funds are lost.

        Returns:
            The address and the phrase, which the UI shows once.
        """
        phrase = Mnemonic(Language.ENGLISH).generate(NEW_WALLET_WORDS)
        self._register(phrase)
        account = _account_from_mnemonic(phrase)
        storage = self._save(_Secret("mnemonic", phrase, account), passphrase, replace, "created")
        return NewWallet(address=str(account.address), mnemonic=phrase, storage=storage)

    def import_mnemonic(
        self, words: str, passphrase: str | None = None, *, replace: bool = False
    ) -> str:
        """Import a wallet from its BIP-39 English recovery phrase (first account,
        ``m/44'/60'/0'/0/0``, as MetaMask derives it).

        Args:
            words: the phrase; case and extra spaces do not matter.
            passphrase: as for :meth:`create`.
            replace: as for :meth:`create`.

        Returns:
            The wallet's address.

        Raises:
            WalletError: wrong word count, a word not in the list (named by position), a
                failed checksum, a missing or short passphrase, or an existing wallet.
        """
        self._register(words.strip())
        phrase = _validate_mnemonic(words)
        self._register(phrase)
        account = _account_from_mnemonic(phrase)
        self._save(_Secret("mnemonic", phrase, account), passphrase, replace, "imported phrase")
        return str(account.address)

    def import_private_key(
        self, hex_key: str, passphrase: str | None = None, *, replace: bool = False
    ) -> str:
        """Import a wallet from a raw private key (64 hex digits, ``0x`` optional).

        Args:
            hex_key: the key.
            passphrase: as for :meth:`create`.
            replace: as for :meth:`create`.

        Returns:
            The wallet's address.

        Raises:
            WalletError: not hex, not 64 digits, out of range, a missing or short passphrase,
                or an existing wallet.
        """
        self._register(hex_key.strip())
        key = _validate_private_key(hex_key)
        self._register_key(key)
        account = _from_key(key)
        self._save(_Secret("private_key", key, account), passphrase, replace, "imported key")
        return str(account.address)

    # ---- Public API: use -----------------------------------------------------------------------

    def unlock(self, passphrase: str | None = None) -> UnlockedWallet:
        """Load the key and return a wallet that can sign.

        Args:
            passphrase: the keystore passphrase (needed when :meth:`storage_kind` is
                ``"keystore"``); ignored for a wallet in the OS keyring.

        Raises:
            WalletError: no wallet; wrong or missing passphrase; the keyring no longer holds
                the secret or is not available; a damaged file or entry.
            SecretStoreError: the keyring is locked or unreachable.
        """
        with self._lock:
            meta = self._require_metadata()
            if meta.storage == "keyring":
                account = self._unlock_keyring(meta)
            else:
                account = self._unlock_keystore(passphrase)
            self._register_key(account.key.hex())
            if account.address != meta.address:
                raise WalletError(
                    "The stored key does not belong to this node's wallet "
                    f"({_short(meta.address)}).",
                    _REIMPORT,
                )
        log.debug("Wallet %s unlocked (%s)", meta.address, meta.storage)
        return UnlockedWallet(account)

    def set_reward_address(self, address: str) -> str:
        """Send rewards to ``address`` instead of the node's own address.

        Returns:
            The address in checksummed form, as stored.

        Raises:
            WalletError: not an address, a checksum typo, the zero address, or no wallet.
        """
        checked = _validate_reward_address(address)
        with self._lock:
            meta = self._require_metadata()
            self._write_metadata(
                _Metadata(meta.address, meta.storage, checked, meta.created_at, meta.keyring_entry)
            )
        log.info("Reward address of wallet %s set to %s", meta.address, checked)
        return checked

    def delete(self) -> None:
        """Remove the wallet: its secret first, then ``wallet.json``. Does nothing when there is
        none. Warn the user first: without the recovery phrase its funds are lost.

        Raises:
            WalletError: the wallet is in an OS keyring that is not available now.
            SecretStoreError: the keyring is locked or unreachable.
        """
        with self._lock:
            meta = self._read_metadata()
            if meta is None:
                self.keystore_path.unlink(missing_ok=True)
                return
            if meta.storage == "keyring" and meta.keyring_entry:
                if self._store is None:
                    raise WalletError(
                        "The wallet is kept in the OS keyring, which is not available now, so "
                        "it cannot be removed.",
                        "Log in to the desktop session so the keyring starts, then try again.",
                    )
                self._store.delete(meta.keyring_entry)
            self.keystore_path.unlink(missing_ok=True)
            # wallet.json goes last: if anything above fails, the wallet still "exists" and the
            # user can simply retry the delete.
            self.metadata_path.unlink(missing_ok=True)
        log.info("Wallet %s deleted", meta.address)

    # ---- Private API ----------------------------------------------------------------------------

    def _register(self, secret: str) -> None:
        if self._redactor is not None and secret:
            self._redactor.register(secret)

    def _register_key(self, key_hex: str) -> None:
        # The redactor matches exactly: register both cases, each with and without 0x.
        body = key_hex[2:] if key_hex[:2].lower() == "0x" else key_hex
        self._register("0x" + body.lower())
        self._register("0x" + body.upper())

    def _save(
        self, secret: _Secret, passphrase: str | None, replace: bool, origin: str
    ) -> StorageKind:
        self._register_key(secret.account.key.hex())
        if passphrase:
            self._register(passphrase)
        address = str(secret.account.address)
        with self._lock:
            old = self._read_metadata()
            if old is not None and not replace:
                raise WalletError(
                    f"A wallet already exists for this node ({_short(old.address)}).",
                    "Delete it or choose to replace it first, and keep its recovery phrase: "
                    "without it, anything the old wallet holds is lost.",
                )
            storage: StorageKind = "keyring" if self._store is not None else "keystore"
            log.debug("Storing wallet %s (%s, %s)", address, origin, storage)
            # 1. Store the new secret next to the old one; the old one is untouched so far.
            entry: str | None = None
            old_keystore: bytes | None = None
            if self._store is not None:
                entry = f"{_ENTRY_PREFIX}{uuid.uuid4().hex}"
                payload = json.dumps({"kind": secret.kind, "value": secret.value})
                self._store.set(entry, payload)
            else:
                checked = _check_new_passphrase(passphrase)
                if self.keystore_path.exists():
                    old_keystore = self.keystore_path.read_bytes()  # encrypted; safe to hold
                keyfile = Account.encrypt(
                    secret.account.key, checked, kdf="scrypt", iterations=self._scrypt_n
                )
                _write_file(self.keystore_path, json.dumps(keyfile).encode("utf-8"))
            # 2. Commit: wallet.json now names the new wallet. Roll step 1 back on failure.
            reward = address
            if old is not None and old.reward_address != old.address:
                reward = old.reward_address  # the user chose it; it is not tied to the node key
            meta = _Metadata(
                address, storage, reward, datetime.now(UTC).isoformat(timespec="seconds"), entry
            )
            try:
                self._write_metadata(meta)
            except BaseException:
                self._undo_store(entry, old_keystore)
                raise
            # 3. Only now remove the old wallet's secret.
            if old is not None:
                self._remove_old_secret(old, meta)
        log.info("Wallet %s stored (%s, %s)", address, origin, storage)
        return storage

    def _undo_store(self, entry: str | None, old_keystore: bytes | None) -> None:
        try:
            if entry is not None and self._store is not None:
                self._store.delete(entry)
            elif old_keystore is not None:
                write_atomic(self.keystore_path, old_keystore, mode=0o600)
            else:
                self.keystore_path.unlink(missing_ok=True)
        except Exception as exc:  # noqa: BLE001 - best effort; the original error matters more
            log.warning("Could not undo a half-stored wallet: %s", type(exc).__name__)

    def _remove_old_secret(self, old: _Metadata, new: _Metadata) -> None:
        if (
            old.storage == "keyring"
            and old.keyring_entry
            and old.keyring_entry != new.keyring_entry
        ):
            if self._store is None:
                log.warning(
                    "The replaced wallet %s stays in the OS keyring (unavailable now)", old.address
                )
                return
            try:
                self._store.delete(old.keyring_entry)
            except UserFacingError as exc:
                # The new wallet is committed; a leftover entry is harmless and must not turn a
                # successful replace into a failure.
                log.warning("The replaced wallet %s stays in the keyring: %s", old.address, exc)
        elif old.storage == "keystore" and new.storage == "keyring":
            self.keystore_path.unlink(missing_ok=True)
        # keystore -> keystore: the atomic rewrite already replaced the old file.

    def _unlock_keyring(self, meta: _Metadata) -> LocalAccount:
        if self._store is None:
            raise WalletError(
                "This node's wallet is kept in the OS keyring, which is not available now.",
                "Log in to the desktop session so the keyring starts and unlocks, then try again.",
            )
        raw = self._store.get(meta.keyring_entry) if meta.keyring_entry else None
        if raw is None:
            raise WalletError(
                f"The OS keyring ({self._store.describe()}) no longer holds this node's wallet "
                f"({_short(meta.address)}).",
                _REIMPORT,
            )
        try:
            data = json.loads(raw)
            kind, value = data["kind"], data["value"]
            if not isinstance(value, str):
                raise TypeError
            self._register(value)
            if kind == "mnemonic":
                return _account_from_mnemonic(_validate_mnemonic(value))
            if kind == "private_key":
                return _from_key(_validate_private_key(value))
            raise ValueError
        # Not chained: the cause's text could quote the entry.
        except (ValueError, TypeError, KeyError, WalletError):
            raise WalletError("The wallet entry in the OS keyring is damaged.", _REIMPORT) from None

    def _unlock_keystore(self, passphrase: str | None) -> LocalAccount:
        if not passphrase:
            raise WalletError(
                "The wallet is protected by a passphrase.", "Enter the passphrase to unlock it."
            )
        self._register(passphrase)
        try:
            keyfile = json.loads(self.keystore_path.read_bytes())
            crypto = keyfile["crypto"]
            well_formed = (
                keyfile["version"] == 3
                and crypto["kdf"] in ("scrypt", "pbkdf2")
                and isinstance(crypto["ciphertext"], str)
                and isinstance(crypto["mac"], str)
            )
        except FileNotFoundError:
            raise WalletError(
                f"The wallet file {KEYSTORE_FILE} is missing from the data folder.",
                "Restore it from a backup, or import the wallet again from its recovery phrase.",
            ) from None
        except (OSError, ValueError, KeyError, TypeError):
            well_formed = False
        if not well_formed:
            raise WalletError(f"The wallet file {KEYSTORE_FILE} is damaged.", _REIMPORT)
        try:
            key = bytes(Account.decrypt(keyfile, passphrase))
        # eth_keyfile says "MAC mismatch" for a wrong passphrase; the file was checked above,
        # so a ValueError here means the passphrase. No hints about how it was wrong.
        except ValueError:
            raise WalletError("The passphrase is wrong.", "Enter it again.") from None
        return _from_key(key)

    def _require_metadata(self) -> _Metadata:
        meta = self._read_metadata()
        if meta is None:
            raise WalletError(
                "This node has no wallet yet.", "Create a wallet or import one first."
            )
        return meta

    def _read_metadata(self) -> _Metadata | None:
        try:
            raw = json.loads(self.metadata_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            raise self._damaged_metadata() from None
        try:
            storage = raw["storage"]
            entry = raw.get("keyring_entry")
            if (
                raw["schema_version"] != SCHEMA_VERSION
                or storage not in ("keyring", "keystore")
                or not is_checksum_address(raw["address"])
                or not is_checksum_address(raw["reward_address"])
                or not isinstance(raw["created_at"], str)
                or (entry is not None and not isinstance(entry, str))
            ):
                raise ValueError
        except (KeyError, TypeError, ValueError):
            raise self._damaged_metadata() from None
        return _Metadata(raw["address"], storage, raw["reward_address"], raw["created_at"], entry)

    def _damaged_metadata(self) -> WalletError:
        return WalletError(
            f"The wallet record {METADATA_FILE} in the data folder is damaged.",
            "Restore it from a backup, or delete it and import the wallet again from its "
            "recovery phrase.",
        )

    def _write_metadata(self, meta: _Metadata) -> None:
        _write_file(self.metadata_path, meta.to_json())
