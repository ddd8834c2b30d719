"""What the end-to-end tests share: a fresh data folder's environment, waiting for a condition,
finding every process a test started, and walking JSON."""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil

__all__ = ["node_env", "ours", "until", "walk"]


def node_env(home: Path) -> dict[str, str]:
    """This process's environment for a node whose data folder is ``home``: its wallet in a
    passphrase-encrypted keystore there (never in the OS keyring), no engine of ours named."""
    env = {
        **os.environ,
        "FIZZ_HOME": str(home),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "FIZZ_WALLET_PASSPHRASE": secrets.token_urlsafe(16),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DOCKER_HOST", None)
    return env


def until(probe: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``probe`` every half second until it returns something true, and return that.

    Raises:
        AssertionError: ``timeout`` seconds passed first (the message names ``what``).
    """
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.5)


def ours(home: Path) -> list[psutil.Process]:
    """Live processes started for a test: they all carry its ``FIZZ_HOME``."""
    found = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if process.environ().get("FIZZ_HOME") == str(home) and process.pid != os.getpid():
                found.append(process)
    return found


def walk(value: Any) -> Iterator[tuple[str, Any]]:
    """Every ``(key, value)`` of a JSON document, at any depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)
