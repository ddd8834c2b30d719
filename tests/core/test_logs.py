"""Tests for fizz_app.core.logs: the rotating log file and the secret redactor.

Everything is logged through the real ``logging`` machinery into a real file under
``tmp_path``, and the file is read back.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.hdaccount.mnemonic import Mnemonic
from eth_account.types import Language

from fizz_app.core import logs
from fizz_app.core.logs import (
    LOG_FILE_NAME,
    MIN_MNEMONIC_WORDS,
    REDACTED,
    SecretRedactor,
    configure_logging,
)

Account.enable_unaudited_hdwallet_features()

log = logging.getLogger("fizz_app.tests.logs")

SECRET_NAME_WORDS = {"private", "key", "seed", "token", "secret", "mnemonic", "password"}
"""BIP-39 list words (and neighbours) that the ``name=value`` rule also reacts to."""


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    """Remove the handlers configure_logging adds and restore the root level afterwards."""
    root = logging.getLogger()
    level = root.level
    yield
    for handler in [h for h in root.handlers if getattr(h, "_fizz_handler", False)]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)


def read_log(log_dir: Path) -> str:
    return (log_dir / LOG_FILE_NAME).read_text(encoding="utf-8")


def fresh_mnemonic(num_words: int) -> str:
    """A real random BIP-39 phrase from eth_account.

    Phrases holding a word the ``name=value`` rule reacts to are drawn again: such phrases
    leak (see test_mnemonic_containing_secret_followed_by_long_word_is_fully_redacted).
    """
    while True:
        _, mnemonic = Account.create_with_mnemonic(num_words=num_words)
        assert isinstance(mnemonic, str)
        if not SECRET_NAME_WORDS & set(mnemonic.split()):
            return mnemonic


def bip39_words() -> list[str]:
    return sorted(Mnemonic(Language.ENGLISH).wordlist)


# ---- configure_logging --------------------------------------------------------------------------


def test_configure_logging_writes_to_the_log_file(tmp_path: Path) -> None:
    log_dir = tmp_path / "data" / "logs"
    redactor = configure_logging(log_dir)
    assert isinstance(redactor, SecretRedactor)
    log.info("node started on %s", "devnet")
    log.debug("not at INFO level")
    text = read_log(log_dir)
    assert "INFO    fizz_app.tests.logs: node started on devnet" in text
    assert "not at INFO level" not in text


def test_configure_logging_honours_the_level(tmp_path: Path) -> None:
    configure_logging(tmp_path, "WARNING")
    log.info("chatty")
    log.warning("battery low, pausing")
    text = read_log(tmp_path)
    assert "chatty" not in text
    assert "battery low, pausing" in text


def test_configure_logging_twice_does_not_duplicate_lines(tmp_path: Path) -> None:
    configure_logging(tmp_path)
    configure_logging(tmp_path)
    log.info("exactly once")
    assert read_log(tmp_path).count("exactly once") == 1
    root = logging.getLogger()
    assert sum(1 for h in root.handlers if getattr(h, "_fizz_handler", False)) == 1


def test_configure_logging_again_moves_to_the_new_folder(tmp_path: Path) -> None:
    configure_logging(tmp_path / "a")
    log.info("first")
    configure_logging(tmp_path / "b")
    log.info("second")
    assert "second" not in read_log(tmp_path / "a")
    assert "first" not in read_log(tmp_path / "b")
    assert "second" in read_log(tmp_path / "b")


def test_secret_registered_before_reconfigure_stays_redacted(tmp_path: Path) -> None:
    secret = secrets.token_hex(32)
    configure_logging(tmp_path).register(secret)
    configure_logging(tmp_path, "DEBUG")
    log.info("key %s", secret)
    assert secret not in read_log(tmp_path)


def test_console_output_is_redacted_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = "0x" + secrets.token_hex(32)
    configure_logging(tmp_path, console=True).register(secret)
    log.warning("using %s", secret)
    err = capsys.readouterr().err
    assert f"using {REDACTED}" in err
    assert secret[2:] not in err


def test_log_file_rotates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "LOG_MAX_BYTES", 2000)
    monkeypatch.setattr(logs, "LOG_BACKUPS", 2)
    configure_logging(tmp_path)
    for n in range(200):
        log.info("line %03d %s", n, "x" * 60)
    files = sorted(path.name for path in tmp_path.iterdir())
    assert files == [LOG_FILE_NAME, f"{LOG_FILE_NAME}.1", f"{LOG_FILE_NAME}.2"]
    for name in files:
        assert (tmp_path / name).stat().st_size <= 2000
    assert "line 199 " in read_log(tmp_path)
    assert "line 000 " not in read_log(tmp_path)


# ---- Secrets in the log file --------------------------------------------------------------------


def test_registered_secret_and_its_bare_form_never_reach_the_file(tmp_path: Path) -> None:
    key_hex = secrets.token_hex(32)
    secret = "0x" + key_hex
    configure_logging(tmp_path).register(secret)
    log.info("unlocked key %s", secret)
    log.info("bare form %s", key_hex)
    log.info(f"inline {secret} in the message itself")
    text = read_log(tmp_path)
    assert key_hex not in text
    assert f"unlocked key {REDACTED}" in text
    assert f"bare form {REDACTED}" in text
    assert f"inline {REDACTED} in the message itself" in text


def test_secret_in_an_exception_traceback_is_redacted(tmp_path: Path) -> None:
    secret = "0x" + secrets.token_hex(32)
    configure_logging(tmp_path).register(secret)
    try:
        try:
            raise KeyError(f"no account for {secret[2:]}")
        except KeyError as inner:
            raise RuntimeError(f"cannot sign with key {secret}") from inner
    except RuntimeError:
        log.exception("signing failed")
    text = read_log(tmp_path)
    assert "Traceback (most recent call last)" in text
    assert "signing failed" in text
    assert f"RuntimeError: cannot sign with key {REDACTED}" in text
    assert "KeyError" in text
    assert secret[2:] not in text


def test_secret_assignments_are_redacted_in_the_file(tmp_path: Path) -> None:
    configure_logging(tmp_path)
    key = secrets.token_hex(32)
    log.info("loaded private_key=%s from the environment", key)
    log.info("mnemonic: %s", "correcthorsebattery")
    text = read_log(tmp_path)
    assert key not in text
    assert "correcthorsebattery" not in text
    assert f"private_key={REDACTED} from the environment" in text
    assert f"mnemonic: {REDACTED}" in text


def test_transaction_hashes_are_kept(tmp_path: Path) -> None:
    configure_logging(tmp_path).register("0x" + secrets.token_hex(32))
    tx_hash = "0x" + secrets.token_hex(32)
    address = Account.create().address
    log.info("claimed rewards in transaction %s from %s", tx_hash, address)
    text = read_log(tmp_path)
    assert f"claimed rewards in transaction {tx_hash} from {address}" in text
    assert REDACTED not in text


# ---- SecretRedactor ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("private_key=4c0883a69102937d", f"private_key={REDACTED}"),
        ("PRIVATE KEY: 4c0883a69102937d", f"PRIVATE KEY: {REDACTED}"),
        ("privkey = 4c0883a69102937d;", f"privkey = {REDACTED};"),
        ('mnemonic="horsestaple", ok', f'mnemonic="{REDACTED}", ok'),
        ("seed_phrase: 'hunter2hunter2'", f"seed_phrase: '{REDACTED}'"),
        ("password hunter22 accepted", f"password {REDACTED} accepted"),
        ("Secret=abcdef", f"Secret={REDACTED}"),
        ("api token=eyJhbGciOi.x.y", f"api token={REDACTED}"),
    ],
)
def test_secret_assignments_are_redacted(text: str, expected: str) -> None:
    assert SecretRedactor().redact(text) == expected


@pytest.mark.parametrize(
    "text",
    ["approved token transfer to the gateway", "a secret ballot", "token balance 12.5 uSPON"],
)
def test_everyday_words_after_secret_names_are_kept(text: str) -> None:
    # "token" and "secret" are everyday words here: only "name=value"/"name: value" counts.
    assert SecretRedactor().redact(text) == text


def test_short_values_after_secret_names_are_kept() -> None:
    """Five characters or fewer is not a credential worth hiding; ordinary text survives."""
    assert SecretRedactor().redact("password: none") == "password: none"


def test_short_registered_values_are_ignored() -> None:
    redactor = SecretRedactor()
    redactor.register("abc1234")  # 7 characters: would mangle ordinary text
    redactor.register("   ")
    assert redactor.redact("abc1234 stays") == "abc1234 stays"


def test_registered_secret_without_0x_is_redacted_inside_0x_form() -> None:
    redactor = SecretRedactor()
    key_hex = secrets.token_hex(32)
    redactor.register(f"  {key_hex}\n")
    assert redactor.redact(f"0x{key_hex}") == f"0x{REDACTED}"


def test_longest_secret_is_replaced_first() -> None:
    redactor = SecretRedactor()
    redactor.register("passphrase-part")
    redactor.register("passphrase-part-and-more")
    assert redactor.redact("x passphrase-part-and-more y") == f"x {REDACTED} y"


@pytest.mark.parametrize("num_words", [12, 24])
def test_real_mnemonic_is_redacted_from_arbitrary_text(num_words: int) -> None:
    mnemonic = fresh_mnemonic(num_words)
    assert len(mnemonic.split()) == num_words
    text = f"Restored wallet from backup; phrase was\n{mnemonic}\n(keep it offline)."
    redacted = SecretRedactor().redact(text)
    assert redacted == f"Restored wallet from backup; phrase was\n{REDACTED}\n(keep it offline)."


def test_comma_separated_mnemonic_is_redacted() -> None:
    mnemonic = fresh_mnemonic(12)
    redacted = SecretRedactor().redact("words: [" + ", ".join(mnemonic.split()) + "]")
    assert redacted == f"words: [{REDACTED}]"


def test_mnemonic_is_redacted_in_the_log_file(tmp_path: Path) -> None:
    mnemonic = fresh_mnemonic(24)
    configure_logging(tmp_path)
    log.info("imported %s", mnemonic)
    (line,) = read_log(tmp_path).splitlines()
    assert line.endswith(f"fizz_app.tests.logs: imported {REDACTED}")


def test_ordinary_english_with_list_words_is_kept() -> None:
    sentence = (
        "Please check the network again after a short pause, then run the simple test above; "
        "you can have the best result."
    )
    words = set(bip39_words())
    assert len([w for w in sentence.replace(",", " ").split() if w in words]) >= 8
    assert SecretRedactor().redact(sentence) == sentence


def test_run_of_list_words_below_the_threshold_is_kept() -> None:
    run = " ".join(bip39_words()[: MIN_MNEMONIC_WORDS - 1])
    assert SecretRedactor().redact(f"x {run} y") == f"x {run} y"


def test_run_of_list_words_at_the_threshold_is_redacted() -> None:
    run = " ".join(bip39_words()[:MIN_MNEMONIC_WORDS])
    assert MIN_MNEMONIC_WORDS == 12
    assert SecretRedactor().redact(f"x {run} y") == f"x {REDACTED} y"


MNEMONIC_STARTING_WITH_LONG_WORD = (
    "comfort domain tragic room lunch opinion earth helmet opinion poet announce banana"
)
MNEMONIC_WITH_SECRET_INSIDE = (
    "cotton distance orbit follow lawsuit mammal secret enlist pill journey oxygen deer"
)


def test_labelled_mnemonic_is_fully_redacted() -> None:
    assert Mnemonic(Language.ENGLISH).is_mnemonic_valid(MNEMONIC_STARTING_WITH_LONG_WORD)
    redacted = SecretRedactor().redact(f"mnemonic: {MNEMONIC_STARTING_WITH_LONG_WORD}")
    assert "announce banana" not in redacted
    assert redacted == f"mnemonic: {REDACTED}"


def test_mnemonic_containing_secret_followed_by_long_word_is_fully_redacted() -> None:
    assert Mnemonic(Language.ENGLISH).is_mnemonic_valid(MNEMONIC_WITH_SECRET_INSIDE)
    redacted = SecretRedactor().redact(f"restored {MNEMONIC_WITH_SECRET_INSIDE} ok")
    assert "journey oxygen deer" not in redacted
