"""Supervising child processes: each in a session (process group) of its own, its output in a
log file, stopped with SIGTERM and then SIGKILL, the whole group, in every case.

Shared by ``fizz-node devnet up``, the demo (``make run``), the end-to-end tests and the node
benchmark (benchmarks/node_idle.py). Children get their own session so a Ctrl-C in the terminal
reaches the supervisor only, which then stops them in order (:func:`uninterrupted` keeps a second
Ctrl-C from cutting that short).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Child",
    "SupervisionError",
    "cli_json",
    "fizz_node_command",
    "free_port",
    "spawn",
    "terminate_on_sigterm",
    "uninterrupted",
    "wait_for",
    "wait_for_file",
]


class SupervisionError(RuntimeError):
    """A child failed to start or to get ready; the message says which and shows its output."""


def fizz_node_command() -> str:
    """The ``fizz-node`` executable next to this Python (the venv's), else the one on PATH.

    Raises:
        SupervisionError: neither exists.
    """
    beside = Path(sys.executable).with_name("fizz-node")
    found = str(beside) if beside.is_file() else shutil.which("fizz-node")
    if found is None:
        raise SupervisionError(
            "the fizz-node command is not installed next to this Python or on PATH; "
            "use the project's venv (.venv/bin/python), which 'make run' bootstraps"
        )
    return found


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Child:
    """A long-running child in a session of its own, its output in :attr:`log`."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    exit_code: int | None = None
    signalled: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def output(self, tail: int = 3000) -> str:
        """The last ``tail`` characters of its output."""
        try:
            return self.log.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def stop(self, grace_s: float) -> int:
        """SIGTERM, wait ``grace_s``, then SIGKILL the whole group; return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.signalled.append("SIGTERM")
            try:
                self.process.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.signalled.append("SIGKILL")
                self.process.kill()
                self.process.wait(10)
        # Whatever it forked in its group goes too (nothing, normally).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.exit_code = self.process.returncode
        return self.exit_code

    def kill(self) -> None:
        """SIGKILL the whole group at once (a crash, for fault tests) and reap it."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self.exit_code = self.process.returncode


def spawn(
    name: str, argv: Sequence[str], env: dict[str, str], folder: Path, *, append: bool = False
) -> Child:
    """Start ``argv`` as child ``name`` in a new session, output in ``folder/name.log``
    (appended to with ``append``: a restarted child keeps its earlier lines)."""
    log = folder / f"{name}.log"
    with log.open("ab" if append else "wb") as out:
        process = subprocess.Popen(
            list(argv),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the supervisor only: it stops them in order
        )
    return Child(name, process, log)


def wait_for(child: Child, pattern: str, timeout: float, *, after: int = 0) -> re.Match[str]:
    """Wait until ``child``'s output (from character ``after`` on) matches ``pattern``.

    Raises:
        SupervisionError: it exited first, or ``timeout`` seconds passed.
    """
    compiled = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while True:
        found = compiled.search(child.output(tail=10_000_000)[after:])
        if found is not None:
            return found
        if child.process.poll() is not None:
            raise SupervisionError(
                f"{child.name} exited with {child.process.returncode} before it was ready:\n"
                f"{child.output()}"
            )
        if time.monotonic() > deadline:
            raise SupervisionError(
                f"{child.name} was not ready after {timeout:g} s:\n{child.output()}"
            )
        time.sleep(0.1)


def wait_for_file(path: Path, child: Child, timeout: float) -> bool:
    """Wait until ``path`` exists (True), or ``timeout`` passed (False).

    Raises:
        SupervisionError: ``child`` exited meanwhile.
    """
    deadline = time.monotonic() + timeout
    while not path.exists():
        if child.process.poll() is not None:
            raise SupervisionError(
                f"{child.name} exited with {child.process.returncode}:\n{child.output()}"
            )
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def cli_json(fizz_node: str, env: dict[str, str], *args: str, timeout: float = 180) -> Any:
    """Run one ``fizz-node ... --json`` command to completion and return its JSON.

    Raises:
        SupervisionError: it failed (its error output is in the message).
    """
    result = subprocess.run(
        [fizz_node, *args, "--json"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise SupervisionError(
            f"`fizz-node {' '.join(args)}` failed ({result.returncode}):\n"
            f"{(result.stderr or result.stdout)[-3000:]}"
        )
    return json.loads(result.stdout)


@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt, so ``finally`` blocks stop the children."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: Ctrl-C handling stays as it is
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def uninterrupted() -> Iterator[None]:
    """Ignore Ctrl-C and SIGTERM while stopping everything (a second Ctrl-C must not leave a
    process behind); the first one still ends the run afterwards."""
    previous: dict[int, Any] = {}
    with contextlib.suppress(ValueError):  # not the main thread: nothing to mask
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, signal.SIG_IGN)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
