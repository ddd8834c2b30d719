"""``fizz-node wallet``: create, import, show, reward address — in the OS keyring (a real
Secret Service) and in the passphrase-encrypted keystore fallback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from keyring.backend import KeyringBackend

HARDHAT_PHRASE = "test test test test test test test test test test test junk"
HARDHAT_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
HARDHAT_KEY = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def _run(
    *args: str, home: Path, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("fizz-node")
    return subprocess.run(
        [str(script), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "FIZZ_HOME": str(home), **env},
        timeout=120,
    )


@pytest.fixture
def keyring_env(secret_service: KeyringBackend) -> Iterator[dict[str, str]]:
    """The child process uses the session's real Secret Service."""
    yield {
        "DBUS_SESSION_BUS_ADDRESS": os.environ["DBUS_SESSION_BUS_ADDRESS"],
        "PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring",
    }


NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


def _all_bytes(folder: Path) -> bytes:
    return b"\n".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


def test_create_in_the_os_keyring(fizz_home: Path, keyring_env: dict[str, str]) -> None:
    created = _run("wallet", "create", "--json", home=fizz_home, env=keyring_env)
    assert created.returncode == 0, created.stderr
    data = json.loads(created.stdout)
    assert data["storage"] == "keyring"
    assert "Secret Service" in data["storage_description"]
    words = data["mnemonic"].split()
    assert len(words) == 12
    shown = _run("wallet", "show", "--json", home=fizz_home, env=keyring_env)
    assert json.loads(shown.stdout)["address"] == data["address"]
    # The phrase lives in the keyring only: nothing under the data folder holds it.
    assert data["mnemonic"].encode() not in _all_bytes(fizz_home)
    assert " ".join(words[:4]).encode() not in _all_bytes(fizz_home)
    assert not (fizz_home / "wallet.keystore.json").exists()


def test_table_output_shows_the_phrase_once_with_a_warning(
    fizz_home: Path, keyring_env: dict[str, str]
) -> None:
    created = _run("wallet", "create", home=fizz_home, env=keyring_env)
    assert created.returncode == 0, created.stderr
    assert "Write down this recovery phrase" in created.stdout
    assert " 1. " in created.stdout and "12. " in created.stdout
    shown = _run("wallet", "show", home=fizz_home, env=keyring_env)
    assert "Key kept in:" in shown.stdout
    assert "1. " not in shown.stdout


def test_import_phrase_from_stdin_and_refuse_overwrite(
    fizz_home: Path, keyring_env: dict[str, str]
) -> None:
    imported = _run("wallet", "import", home=fizz_home, env=keyring_env, stdin=HARDHAT_PHRASE)
    assert imported.returncode == 0, imported.stderr
    assert HARDHAT_ADDRESS in imported.stdout
    again = _run("wallet", "import", home=fizz_home, env=keyring_env, stdin=HARDHAT_KEY)
    assert again.returncode == 2
    assert "already exists" in again.stderr
    assert HARDHAT_KEY not in again.stderr
    replaced = _run(
        "wallet", "import", "--replace", "--json", home=fizz_home, env=keyring_env,
        stdin="0x" + HARDHAT_KEY,
    )  # fmt: skip
    assert json.loads(replaced.stdout)["address"] == HARDHAT_ADDRESS


def test_keystore_fallback_needs_a_passphrase(fizz_home: Path) -> None:
    refused = _run("wallet", "create", home=fizz_home, env=NO_KEYRING)
    assert refused.returncode == 2
    assert "FIZZ_WALLET_PASSPHRASE" in refused.stderr
    assert not (fizz_home / "wallet.json").exists()

    env = {**NO_KEYRING, "FIZZ_WALLET_PASSPHRASE": "a long enough passphrase"}
    imported = _run("wallet", "import", "--json", home=fizz_home, env=env, stdin=HARDHAT_KEY)
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["storage"] == "keystore"
    keystore = json.loads((fizz_home / "wallet.keystore.json").read_text())
    assert keystore["crypto"]["kdf"] == "scrypt"
    assert HARDHAT_KEY.encode() not in _all_bytes(fizz_home)


def test_bad_secrets_are_refused_without_being_echoed(fizz_home: Path) -> None:
    env = {**NO_KEYRING, "FIZZ_WALLET_PASSPHRASE": "a long enough passphrase"}
    phrase = HARDHAT_PHRASE.replace("junk", "zebrafish")
    bad = _run("wallet", "import", home=fizz_home, env=env, stdin=phrase)
    assert bad.returncode == 2
    assert "Word 12" in bad.stderr
    assert "zebrafish" not in bad.stderr
    short = _run("wallet", "import", home=fizz_home, env=env, stdin="abcd1234")
    assert short.returncode == 2
    assert "abcd1234" not in short.stderr
    empty = _run("wallet", "import", home=fizz_home, env=env, stdin="  \n")
    assert empty.returncode == 2 and "Nothing was given" in empty.stderr


def test_reward_address(fizz_home: Path) -> None:
    env = {**NO_KEYRING, "FIZZ_WALLET_PASSPHRASE": "a long enough passphrase"}
    _run("wallet", "import", home=fizz_home, env=env, stdin=HARDHAT_PHRASE)
    other = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    changed = _run("wallet", "reward-address", other.lower(), "--json", home=fizz_home, env=env)
    assert changed.returncode == 0, changed.stderr
    assert json.loads(changed.stdout)["reward_address"] == other
    bad = _run("wallet", "reward-address", "0x1234", home=fizz_home, env=env)
    assert bad.returncode == 2


def test_no_wallet_yet(fizz_home: Path) -> None:
    shown = _run("wallet", "show", home=fizz_home, env=NO_KEYRING)
    assert shown.returncode == 2
    assert "fizz-node wallet create" in shown.stderr


def test_logs_never_hold_the_secrets(fizz_home: Path, keyring_env: dict[str, str]) -> None:
    env = {**keyring_env}
    created = json.loads(_run("-v", "wallet", "create", "--json", home=fizz_home, env=env).stdout)
    _run("-v", "wallet", "show", home=fizz_home, env=env)
    log_text = (fizz_home / "logs" / "fizz-node.log").read_text()
    assert created["mnemonic"] not in log_text
    assert " ".join(created["mnemonic"].split()[:3]) not in log_text
