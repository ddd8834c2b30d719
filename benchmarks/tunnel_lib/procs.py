"""Child processes that cannot outlive the benchmark.

Every helper process (``sshd``, ``ssh``, and later whatever a tunnel needs) starts in a session
and process group of its own, so one ``killpg`` reaches it and anything it forked inside the
group. ``sshd`` is special: each connection it accepts is served by a child that calls
``setsid()`` and so leaves the group; :func:`stop_process` therefore also snapshots the whole
tree of descendants (with psutil) before signalling, and kills those one by one. Anything still
alive when the interpreter exits is killed by an ``atexit`` hook.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import signal
from collections.abc import Sequence
from pathlib import Path

import psutil

_LIVE: dict[int, asyncio.subprocess.Process] = {}


async def spawn(argv: Sequence[str], log_path: Path) -> asyncio.subprocess.Process:
    """Start ``argv`` in a new session, with stdout and stderr going to ``log_path``."""
    with open(log_path, "wb") as log:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    _LIVE[process.pid] = process
    return process


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


async def stop_process(process: asyncio.subprocess.Process, grace_s: float = 3.0) -> None:
    """Stop ``process``, its process group and every descendant; SIGKILL after ``grace_s``.

    Returns once the process has been reaped and its descendants are gone.
    """
    descendants = _descendants(process.pid)
    if process.returncode is None:
        _signal_group(process.pid, signal.SIGTERM)
    for child in descendants:
        with contextlib.suppress(psutil.Error):
            child.terminate()
    try:
        await asyncio.wait_for(process.wait(), grace_s)
    except TimeoutError:
        _signal_group(process.pid, signal.SIGKILL)
        await process.wait()
    finally:
        # Whatever happens (even cancellation), nothing of this tree may survive.
        _signal_group(process.pid, signal.SIGKILL)
        _LIVE.pop(process.pid, None)
        _, alive = await asyncio.to_thread(psutil.wait_procs, descendants, grace_s)
        for child in alive:
            with contextlib.suppress(psutil.Error):
                child.kill()
        if alive:
            await asyncio.to_thread(psutil.wait_procs, alive, grace_s)


def kill_now(process: asyncio.subprocess.Process) -> None:
    """SIGKILL ``process``, its group and its descendants at once, without waiting."""
    for child in _descendants(process.pid):
        with contextlib.suppress(psutil.Error):
            child.kill()
    _signal_group(process.pid, signal.SIGKILL)
    _LIVE.pop(process.pid, None)


def live_pids() -> list[int]:
    """Process ids started by :func:`spawn` and not yet stopped (for tests)."""
    return sorted(_LIVE)


@atexit.register
def _kill_leftovers() -> None:
    for process in list(_LIVE.values()):
        kill_now(process)
