"""Where the node keeps small secrets: the OS keyring, or memory for tests.

Call :func:`open_os_secret_store` once at start-up. It returns a :class:`KeyringSecretStore`
over a real OS secret store (Secret Service, KDE Wallet, macOS Keychain, Windows Credential
Locker) that answered a store/read/delete round trip, or ``None``; with ``None``, the wallet
falls back to its passphrase-encrypted keystore file (see :mod:`fizz_app.core.wallet`).
Plain-text keyrings (``keyrings.alt`` file backends) and the ``fail``/``null`` backends never
count as secure storage. :func:`find_os_keyring` does the vetting on its own.

Every method blocks (D-Bus, Keychain or Credential Manager calls): the engine calls them through
``asyncio.to_thread``. Failures become :class:`SecretStoreError`, whose text names the problem
and what to do, and never contains a secret.
"""

from __future__ import annotations

import logging
import secrets
from typing import Protocol, runtime_checkable

import keyring
import keyring.errors
from keyring.backend import KeyringBackend

from .errors import UserFacingError

__all__ = [
    "DEFAULT_SERVICE",
    "SecretStore",
    "SecretStoreError",
    "KeyringSecretStore",
    "MemorySecretStore",
    "find_os_keyring",
    "open_os_secret_store",
    "os_keyring_available",
    "keyring_backend_problem",
]

log = logging.getLogger(__name__)

DEFAULT_SERVICE = "FizzNode"
"""Service name the app's entries carry in the OS keyring (what the user sees in Seahorse,
Keychain Access or Credential Manager)."""

# Backends that keep secrets in the operating system's own encrypted store, by exact class
# (module + name). An allow-list rather than a deny-list: a backend we do not know might write
# plain text (keyrings.alt.file.PlaintextKeyring does), and the keystore fallback is always
# there, so refusing an unknown backend costs the user a passphrase, never their key.
_OS_BACKENDS: dict[str, str] = {
    "keyring.backends.SecretService.Keyring": "Secret Service (GNOME Keyring or compatible)",
    "keyring.backends.libsecret.Keyring": "Secret Service (GNOME Keyring or compatible)",
    "keyring.backends.kwallet.DBusKeyring": "KDE Wallet",
    "keyring.backends.kwallet.DBusKeyringKWallet4": "KDE Wallet",
    "keyring.backends.macOS.Keyring": "macOS Keychain",
    "keyring.backends.Windows.WinVaultKeyring": "Windows Credential Locker",
}

_LOCKED_REMEDY = "Unlock it (log in to the desktop session) and try again."
_UNREACHABLE_REMEDY = (
    "Make sure you are logged in to a desktop session with a keyring running (GNOME Keyring, "
    "KDE Wallet, macOS Keychain or Windows Credential Manager), then try again."
)


class SecretStoreError(UserFacingError):
    """The secret store could not do what was asked. Show ``str(error)``; nothing changed."""


@runtime_checkable
class SecretStore(Protocol):
    """A place for small named secrets (a wallet's key or recovery phrase).

    Implementations raise :class:`SecretStoreError` on failure and never put a secret in
    ``repr()``, ``str()``, logs or error text.
    """

    def get(self, name: str) -> str | None:
        """Return the secret stored under ``name``, or ``None`` when there is none."""
        ...

    def set(self, name: str, value: str) -> None:
        """Store ``value`` under ``name``, replacing what was there."""
        ...

    def delete(self, name: str) -> None:
        """Remove ``name``; does nothing when it is not there."""
        ...

    def describe(self) -> str:
        """Return the store's name for people, e.g. ``"macOS Keychain"``."""
        ...


def _class_path(backend: KeyringBackend) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def keyring_backend_problem(backend: KeyringBackend) -> str | None:
    """Say why ``backend`` is not secure OS storage, or return ``None`` when it is.

    Only the class is judged; whether the backend works is :func:`find_os_keyring`'s job.
    """
    path = _class_path(backend)
    if path in _OS_BACKENDS:
        return None
    if path in ("keyring.backends.fail.Keyring", "keyring.backends.null.Keyring"):
        return "no OS keyring was found (the keyring library fell back to its 'fail' backend)"
    if "plaintext" in path.lower():
        return f"{path} stores secrets in plain text"
    return f"{path} is not an operating-system keyring this app trusts"


def _resolve(backend: KeyringBackend) -> KeyringBackend:
    # The chainer writes to its highest-priority member (reads try them all). Judge and use that
    # member directly, so a lower-priority plain-text keyring in the chain can never be read from
    # or written to by us.
    if _class_path(backend) == "keyring.backends.chainer.ChainerBackend":
        members: list[KeyringBackend] = list(getattr(backend, "backends", []))
        if members:
            return members[0]
    return backend


def find_os_keyring(backend: KeyringBackend | None = None) -> KeyringBackend | None:
    """Return a working, secure OS keyring backend, or ``None`` when there is none.

    Args:
        backend: the backend to judge; ``None`` judges the keyring library's current choice
            (``keyring.get_keyring()``, which honours ``PYTHON_KEYRING_BACKEND``).

    Returns:
        The backend to pass to :class:`KeyringSecretStore`; ``None`` means: use the wallet's
        encrypted keystore file instead, and ask the user for a passphrase.
    """
    chosen = _resolve(backend if backend is not None else keyring.get_keyring())
    problem = keyring_backend_problem(chosen)
    if problem is not None:
        log.info("OS keyring not used: %s", problem)
        return None
    # A backend can be the right class and still not work (no D-Bus session, a keyring that
    # stays locked, a dismissed prompt): prove it with a throwaway entry.
    probe_name = f"probe-{secrets.token_hex(8)}"
    probe_value = secrets.token_hex(16)
    try:
        chosen.set_password(DEFAULT_SERVICE, probe_name, probe_value)
        try:
            works = chosen.get_password(DEFAULT_SERVICE, probe_name) == probe_value
        finally:
            chosen.delete_password(DEFAULT_SERVICE, probe_name)
    # Backends raise far more than keyring.errors.* here (D-Bus errors from jeepney and
    # secretstorage, OSError, pywin32 errors, EOFError from prompting backends); any failure means
    # "not usable", so the probe catches them all.
    except Exception as exc:  # noqa: BLE001
        log.info("OS keyring %s does not work: %s", _class_path(chosen), type(exc).__name__)
        return None
    if not works:
        log.info("OS keyring %s did not return what was stored in it", _class_path(chosen))
        return None
    log.debug("OS keyring available: %s", _class_path(chosen))
    return chosen


def os_keyring_available(backend: KeyringBackend | None = None) -> bool:
    """Return whether a secure, working OS keyring is there (see :func:`find_os_keyring`)."""
    return find_os_keyring(backend) is not None


def open_os_secret_store(service: str = DEFAULT_SERVICE) -> KeyringSecretStore | None:
    """Return a store over the OS keyring, or ``None`` when there is no secure, working one.

    This is what the composition root passes to ``WalletManager``: ``None`` selects the
    passphrase-protected keystore file.
    """
    backend = find_os_keyring()
    return KeyringSecretStore(service, keyring_backend=backend) if backend is not None else None


def _describe_backend(backend: KeyringBackend) -> str:
    return _OS_BACKENDS.get(_class_path(backend), str(backend.name))


class KeyringSecretStore:
    """A :class:`SecretStore` over an OS keyring, through the ``keyring`` library.

    Args:
        service: the service name entries are filed under.
        keyring_backend: the backend, normally from :func:`find_os_keyring`; ``None`` takes the
            keyring library's current choice.

    Raises:
        SecretStoreError: the backend is not secure OS storage (a plain-text or ``fail``
            backend); use :func:`find_os_keyring` first.
    """

    def __init__(
        self, service: str = DEFAULT_SERVICE, keyring_backend: KeyringBackend | None = None
    ) -> None:
        backend = _resolve(
            keyring_backend if keyring_backend is not None else keyring.get_keyring()
        )
        problem = keyring_backend_problem(backend)
        if problem is not None:
            raise SecretStoreError(
                f"The keyring cannot hold the wallet safely: {problem}.",
                "Use the encrypted wallet file instead (the app asks for a passphrase).",
            )
        self._service = service
        self._backend = backend

    def __repr__(self) -> str:
        return (
            f"KeyringSecretStore(service={self._service!r}, backend={_class_path(self._backend)})"
        )

    def describe(self) -> str:
        """Return the keyring's name for people, e.g. ``"Windows Credential Locker"``."""
        return _describe_backend(self._backend)

    def get(self, name: str) -> str | None:
        """Return the secret stored under ``name``, or ``None`` when there is none.

        Raises:
            SecretStoreError: the keyring is locked, unreachable or failed.
        """
        try:
            value = self._backend.get_password(self._service, name)
        except Exception as exc:  # noqa: BLE001 - backends raise many unrelated types
            raise self._error("read the wallet secret from", exc) from exc
        return value

    def set(self, name: str, value: str) -> None:
        """Store ``value`` under ``name``, replacing what was there.

        Raises:
            SecretStoreError: the keyring is locked, unreachable or refused the entry.
        """
        try:
            self._backend.set_password(self._service, name, value)
        except Exception as exc:  # noqa: BLE001 - backends raise many unrelated types
            # Not chained: a backend's error text might quote what it was asked to store.
            raise self._error("store the wallet secret in", exc) from None

    def delete(self, name: str) -> None:
        """Remove ``name``; does nothing when it is not there.

        Raises:
            SecretStoreError: the keyring is locked, unreachable or refused.
        """
        try:
            self._backend.delete_password(self._service, name)
        except keyring.errors.PasswordDeleteError as exc:
            # Most backends raise this for "no such entry"; that is success for us. Ask again to
            # tell it apart from a real refusal.
            if self.get(name) is None:
                return
            raise self._error("remove the wallet secret from", exc) from exc
        except Exception as exc:  # noqa: BLE001 - backends raise many unrelated types
            raise self._error("remove the wallet secret from", exc) from exc

    def _error(self, action: str, exc: BaseException) -> SecretStoreError:
        where = self.describe()
        kind = type(exc).__name__
        log.warning("Keyring (%s) failed to %s it: %s", where, action, kind)
        if isinstance(exc, keyring.errors.KeyringLocked) or kind in (
            "LockedException",
            "PromptDismissedException",
        ):
            return SecretStoreError(f"Your keyring ({where}) is locked.", _LOCKED_REMEDY)
        if isinstance(exc, keyring.errors.NoKeyringError):
            return SecretStoreError("No OS keyring is available.", _UNREACHABLE_REMEDY)
        module = type(exc).__module__.split(".")[0]
        if (
            isinstance(exc, keyring.errors.InitError | OSError)
            or module in ("secretstorage", "jeepney", "dbus")
            or kind == "SecretServiceNotAvailableException"
        ):
            return SecretStoreError(
                f"The keyring ({where}) could not be reached.", _UNREACHABLE_REMEDY
            )
        return SecretStoreError(
            f"The keyring ({where}) could not {action} it ({kind}).",
            "Try again; if it keeps failing, restart your desktop session.",
        )


class MemorySecretStore:
    """A :class:`SecretStore` in memory: for tests and for a wallet that must not outlive the
    process. Nothing is written anywhere."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"MemorySecretStore({len(self._values)} entries)"

    def describe(self) -> str:
        """Return ``"Memory (not saved)"``."""
        return "Memory (not saved)"

    def get(self, name: str) -> str | None:
        """Return the secret stored under ``name``, or ``None``."""
        return self._values.get(name)

    def set(self, name: str, value: str) -> None:
        """Store ``value`` under ``name``."""
        self._values[name] = value

    def delete(self, name: str) -> None:
        """Remove ``name`` if it is there."""
        self._values.pop(name, None)

    def names(self) -> list[str]:
        """Return the stored names (not the values), sorted: tests check what was kept."""
        return sorted(self._values)
