"""Run a local anvil node (the binary from ``tools/npm``) as a child process.

``AnvilProcess`` starts the binary directly, never through ``npx`` (killing an npx wrapper
leaves anvil running), in its own session so the whole process group can be stopped. Anvil
binds the port it is given, or a free one when none is (``--port 0``: the port is read back
from anvil's "Listening on" line). The context manager waits until ``eth_chainId`` answers and,
on exit, stops the process group and waits for it.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from web3 import HTTPProvider, Web3

__all__ = [
    "DEFAULT_CHAIN_ID",
    "AnvilError",
    "AnvilNotFoundError",
    "AnvilProcess",
    "anvil_binary",
]

DEFAULT_CHAIN_ID = 31337
"""Anvil's usual chain id."""

REPO_ROOT = Path(__file__).resolve().parents[2]
NPM_MODULES = REPO_ROOT / "tools" / "npm" / "node_modules"

_LISTENING = re.compile(r"Listening on ([0-9.]+):(\d+)")


class AnvilError(RuntimeError):
    """Anvil did not start, or did not answer in time."""


class AnvilNotFoundError(AnvilError, FileNotFoundError):
    """The anvil binary is not installed where the project's bootstrap puts it."""


def anvil_binary() -> Path:
    """Return the path of this platform's anvil binary under ``tools/npm/node_modules``.

    The npm package ``@foundry-rs/anvil`` ships one binary package per platform, e.g.
    ``@foundry-rs/anvil-linux-amd64/bin/anvil``. Existence is not checked here.
    """
    system = {"linux": "linux", "darwin": "darwin", "win32": "win32"}.get(sys.platform, "linux")
    machine = platform.machine().lower()
    arch = "arm64" if machine in ("arm64", "aarch64") else "amd64"
    name = "anvil.exe" if system == "win32" else "anvil"
    return NPM_MODULES / "@foundry-rs" / f"anvil-{system}-{arch}" / "bin" / name


class AnvilProcess:
    """A running anvil node on 127.0.0.1; use it as a context manager.

    ``port=None`` lets anvil choose a free port. ``block_time`` (seconds) mines on a timer
    instead of once per transaction. ``extra_args`` are appended to the command line.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        chain_id: int = DEFAULT_CHAIN_ID,
        block_time: float | None = None,
        binary: Path | None = None,
        startup_timeout: float = 10.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.chain_id = chain_id
        self.binary = Path(binary) if binary is not None else anvil_binary()
        self.startup_timeout = startup_timeout
        self._requested_port = port
        self._block_time = block_time
        self._extra_args = tuple(extra_args)
        self._process: subprocess.Popen[bytes] | None = None
        self._log_dir: Path | None = None
        self._port: int | None = None

    # ----------------------------------------------------------------- properties

    @property
    def port(self) -> int:
        """The port anvil listens on (known once started)."""
        if self._port is None:
            raise AnvilError("anvil is not running")
        return self._port

    @property
    def rpc_url(self) -> str:
        """The HTTP JSON-RPC endpoint."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The anvil process id (also its process group id)."""
        if self._process is None:
            raise AnvilError("anvil is not running")
        return self._process.pid

    @property
    def running(self) -> bool:
        """True while the anvil process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def log_path(self) -> Path | None:
        """Anvil's stdout/stderr log while it runs (removed on stop)."""
        return None if self._log_dir is None else self._log_dir / "anvil.log"

    def web3(self, timeout: float = 30.0) -> Web3:
        """Return a ``Web3`` connected to this node over HTTP."""
        return Web3(HTTPProvider(self.rpc_url, request_kwargs={"timeout": timeout}))

    # ----------------------------------------------------------------- life cycle

    def start(self) -> AnvilProcess:
        """Start anvil and wait until it answers ``eth_chainId`` (up to ``startup_timeout``)."""
        if self._process is not None:
            raise AnvilError("anvil is already running")
        if not self.binary.is_file():
            raise AnvilNotFoundError(
                f"anvil is not installed at {self.binary}; run `make test` (or "
                "scripts/bootstrap.sh), which installs the npm dev tools into tools/npm"
            )
        self._log_dir = Path(tempfile.mkdtemp(prefix="fizz-anvil-"))
        command = [
            str(self.binary),
            "--host",
            "127.0.0.1",
            "--port",
            str(self._requested_port if self._requested_port is not None else 0),
            "--chain-id",
            str(self.chain_id),
            "--hardfork",
            "prague",
        ]
        if self._block_time is not None:
            command += ["--block-time", str(self._block_time)]
        command += list(self._extra_args)
        log_path = self.log_path
        assert log_path is not None
        with log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop anvil's process group (SIGTERM, then SIGKILL after 5 s) and wait for it."""
        process, self._process = self._process, None
        if process is not None:
            _kill_group(process)
        self._port = None
        if self._log_dir is not None:
            shutil.rmtree(self._log_dir, ignore_errors=True)
            self._log_dir = None

    def __enter__(self) -> AnvilProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ----------------------------------------------------------------- internals

    def _wait_until_ready(self) -> None:
        process = self._process
        assert process is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if process.poll() is not None:
                raise AnvilError(
                    f"anvil exited with code {process.returncode}:\n{self._log_tail()}"
                )
            if self._port is None:
                self._port = self._requested_port or self._port_from_log()
            if self._port is not None and self._chain_id_answers():
                return
            if time.monotonic() > deadline:
                raise AnvilError(
                    f"anvil did not answer eth_chainId within {self.startup_timeout:g} s:\n"
                    f"{self._log_tail()}"
                )
            time.sleep(0.05)

    def _port_from_log(self) -> int | None:
        match = _LISTENING.search(self._log_text())
        return int(match.group(2)) if match else None

    def _chain_id_answers(self) -> bool:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
        request = urllib.request.Request(
            self.rpc_url, data=body.encode(), headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=1.0) as response:
                answer = json.loads(response.read())
        except (OSError, ValueError):
            return False
        return isinstance(answer, dict) and answer.get("result") == hex(self.chain_id)

    def _log_text(self) -> str:
        path = self.log_path
        if path is None or not path.exists():
            return ""
        return path.read_text(encoding="utf-8", errors="replace")

    def _log_tail(self, limit: int = 2000) -> str:
        return self._log_text()[-limit:]


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    for sig, wait_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, None)):
        try:
            if hasattr(os, "killpg"):
                os.killpg(process.pid, sig)
            else:  # Windows: no process groups; the binary is started directly
                process.kill()
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue
