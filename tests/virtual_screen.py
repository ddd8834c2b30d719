"""A virtual X screen (Xvfb) for what needs a real X11 display where there is none: the desktop
path of ``make run``'s end-to-end test and the README screenshots (scripts/screenshots.py)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from typing import Any


class XvfbError(RuntimeError):
    """Xvfb exited before it named its display."""


@contextlib.contextmanager
def xvfb_display(screen: str = "1280x800x24") -> Iterator[str]:
    """Start Xvfb with one ``screen`` (width x height x depth), no TCP, on the first free
    display number, which it reports once it accepts clients (``-displayfd``); yield the
    ``DISPLAY`` value (``":99"``), and stop the server when the block ends.

    Check ``shutil.which("Xvfb")`` first where Xvfb may not be installed (``Popen`` raises
    ``FileNotFoundError`` then), to skip or to say how to install it.

    Raises:
        XvfbError: Xvfb exited without naming a display.
    """
    read_end, write_end = os.pipe()
    try:
        server = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_end), "-screen", "0", screen, "-nolisten", "tcp"],
            pass_fds=(write_end,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    try:
        with os.fdopen(read_end) as pipe:
            number = pipe.readline().strip()
        if not number:
            raise XvfbError("Xvfb did not start")
        yield f":{number}"
    finally:
        stop(server)


def stop(process: subprocess.Popen[Any], grace_s: float = 10.0) -> None:
    """End ``process`` (Xvfb, or a program drawing on its screen): SIGTERM, and SIGKILL if it
    has not exited within ``grace_s`` seconds; returns once it has exited."""
    process.terminate()
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
