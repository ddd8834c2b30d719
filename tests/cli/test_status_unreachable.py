"""``fizz-node status`` while the chain's RPC endpoint is down or hangs, in a real process: it
fails with a message naming the endpoint (its password and keys masked) and the fix, and no
traceback. The endpoint is a real TCP proxy that refuses connections, or accepts them and never
answers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

from fizz_app.core.wallet import WalletManager
from tests.local_network import ProxyMode, SwitchableProxy

SCRIPT = Path(sys.executable).with_name("fizz-node")
SECRETS = ("sekret-pass", "0123456789abcdefKEY", "TOPSECRETVALUE")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A data folder with a keystore wallet (``status`` only reads its address)."""
    WalletManager(tmp_path, None, scrypt_n=16).import_private_key(
        Account.create().key.hex(), "a-long-passphrase"
    )
    return tmp_path


@pytest.fixture
def proxy() -> Iterator[SwitchableProxy]:
    # Nothing behind it: every request would fail, but none is ever forwarded here.
    suffix = "/v2/0123456789abcdefKEY?apikey=TOPSECRETVALUE"
    with SwitchableProxy(("127.0.0.1", 9), credentials="ada:sekret-pass@", suffix=suffix) as p:
        yield p


def status(home: Path, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FIZZ_HOME": str(home)}
    return subprocess.run(
        [str(SCRIPT), "status", "--network", "base-sepolia", "--rpc-url", url],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def assert_explained(result: subprocess.CompletedProcess[str], port: int, problem: str) -> None:
    assert result.returncode == 2, result
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert problem in result.stderr
    assert f"http://127.0.0.1:{port}/v2/***?apikey=***" in result.stderr
    assert "--rpc-url URL" in result.stderr  # the fix, in this command's terms
    assert not any(secret in result.stderr for secret in SECRETS), result.stderr


def test_status_names_a_refusing_endpoint_and_the_fix(home: Path, proxy: SwitchableProxy) -> None:
    proxy.switch(ProxyMode.REFUSE)
    result = status(home, proxy.url)
    assert_explained(result, proxy.port, "fizz-node: Cannot reach the Base Sepolia")
    logged = "".join(log.read_text() for log in (home / "logs").glob("*") if log.is_file())
    assert "unreachable (ConnectionError); retrying" in logged
    assert not any(secret in logged for secret in SECRETS)


@pytest.mark.slow
def test_status_gives_up_on_a_silent_endpoint_after_one_timeout(
    home: Path, proxy: SwitchableProxy
) -> None:
    proxy.switch(ProxyMode.HANG)
    began = time.monotonic()
    result = status(home, proxy.url)
    # One 15-second HTTP timeout, not web3's five tries times the client's four.
    assert time.monotonic() - began < 40
    assert_explained(result, proxy.port, "did not answer within 15 s")
    assert proxy.accepted[ProxyMode.HANG] == 1
