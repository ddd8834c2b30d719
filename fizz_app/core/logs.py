"""Logging to a rotating file in the data folder, with secrets scrubbed from every line.

Call :func:`configure_logging` once at start-up. Modules log through
``logging.getLogger(__name__)`` as usual. The returned :class:`SecretRedactor` replaces, in every
formatted line including tracebacks: values registered with :meth:`SecretRedactor.register`
(the wallet registers its key and mnemonic when it unlocks them), anything that looks like a
BIP-39 mnemonic, and values written after a secret-sounding name (``private_key=...``).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import logging.handlers
import re
import sys
import threading
from pathlib import Path

__all__ = ["LOG_FILE_NAME", "SecretRedactor", "RedactingFormatter", "configure_logging"]

LOG_FILE_NAME = "fizz-node.log"
LOG_MAX_BYTES = 2 * 1024 * 1024
LOG_BACKUPS = 5
REDACTED = "[redacted]"
MIN_MNEMONIC_WORDS = 12
"""BIP-39 phrases have 12 to 24 words; shorter runs of list words are ordinary English."""

# "name=value", "name: value" for every secret-sounding name, and "name value" only for names
# that are not also everyday words ("approved token transfer" must survive).
_SECRET_ASSIGNMENT = re.compile(
    r"(?i)\b(?:(private[_ ]?key|priv[_ ]?key|secret|mnemonic|seed[_ ]?phrase|passphrase"
    r"|password|token)(\s*[=:]\s*)|(private[_ ]?key|priv[_ ]?key|seed[_ ]?phrase|passphrase"
    r"|password)(\s+))(['\"]?)([^\s'\",;]{6,})"
)
_WORD = re.compile(r"[A-Za-z]+")


@functools.cache
def _bip39_words() -> frozenset[str]:
    # eth_account ships the BIP-39 English word list. Locate the file without importing the
    # package: importing eth_account costs about 0.3 s of start-up (its BLS dependencies).
    spec = importlib.util.find_spec("eth_account")
    if spec is None or spec.origin is None:
        return frozenset()  # a trimmed bundle: registered secrets are still scrubbed
    word_list = Path(spec.origin).parent / "hdaccount" / "wordlist" / "english.txt"
    try:
        text = word_list.read_text(encoding="utf-8")
    except OSError:
        return frozenset()
    return frozenset(word.strip() for word in text.split() if word.strip())


class SecretRedactor:
    """Scrubs secrets out of text. Thread-safe."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def register(self, secret: str) -> None:
        """Never let ``secret`` (and its ``0x``-less form) appear in a log line again."""
        secret = secret.strip()
        if len(secret) < 8:  # too short to scrub without mangling ordinary text
            return
        with self._lock:
            self._secrets.add(secret)
            if secret.lower().startswith("0x"):
                self._secrets.add(secret[2:])

    def redact(self, text: str) -> str:
        """Return ``text`` with every known and every recognisable secret replaced."""
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        # Mnemonics first: "secret" and "token" are BIP-39 words themselves, and redacting a
        # "secret: word" pair first would split a phrase into runs too short to recognise.
        text = self._redact_mnemonics(text)
        return _SECRET_ASSIGNMENT.sub(_redact_assignment, text)

    @staticmethod
    def _redact_mnemonics(text: str) -> str:
        words = _bip39_words()
        if not words:
            return text
        run: list[re.Match[str]] = []
        spans: list[tuple[int, int]] = []
        for match in _WORD.finditer(text):
            gap = text[run[-1].end() : match.start()] if run else " "
            if match[0].lower() in words and gap.strip(" \t\n,") == "":
                run.append(match)
                continue
            if len(run) >= MIN_MNEMONIC_WORDS:
                spans.append((run[0].start(), run[-1].end()))
            run = [match] if match[0].lower() in words else []
        if len(run) >= MIN_MNEMONIC_WORDS:
            spans.append((run[0].start(), run[-1].end()))
        for start, end in reversed(spans):
            text = text[:start] + REDACTED + text[end:]
        return text


def _redact_assignment(match: re.Match[str]) -> str:
    name = match[1] or match[3]
    separator = match[2] or match[4]
    return f"{name}{separator}{match[5]}{REDACTED}"


class RedactingFormatter(logging.Formatter):
    """A formatter that passes the whole formatted record, traceback included, through a
    :class:`SecretRedactor`."""

    def __init__(self, redactor: SecretRedactor, fmt: str | None = None) -> None:
        super().__init__(fmt or "%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor.redact(super().format(record))


def configure_logging(
    log_dir: Path, level: str = "INFO", *, console: bool = False
) -> SecretRedactor:
    """Send the app's logs to ``log_dir/fizz-node.log`` (rotated at 2 MB, 5 kept) and,
    with ``console``, to stderr. Safe to call again: earlier handlers are replaced.

    Returns:
        The redactor every handler uses; register secrets with it. A second call keeps the
        first call's redactor, so secrets registered earlier stay scrubbed.
    """
    root = logging.getLogger()
    earlier = [h for h in root.handlers if getattr(h, "_fizz_handler", False)]
    redactor = (
        next(
            (h.formatter.redactor for h in earlier if isinstance(h.formatter, RedactingFormatter)),
            None,
        )
        or SecretRedactor()
    )
    formatter = RedactingFormatter(redactor)
    log_dir.mkdir(parents=True, exist_ok=True)
    file_handler = logging.handlers.RotatingFileHandler(
        log_dir / LOG_FILE_NAME, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
    )
    file_handler.setFormatter(formatter)
    handlers: list[logging.Handler] = [file_handler]
    if console:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(formatter)
        handlers.append(stream)
    for old in earlier:
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        handler._fizz_handler = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    return redactor
