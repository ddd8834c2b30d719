"""Fixtures shared by every test package."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def fizz_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data folder used as FIZZ_HOME for the test."""
    home = tmp_path / "fizz-home"
    monkeypatch.setenv("FIZZ_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def podman_socket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Docker Engine API served by Podman on a private socket; yields its URL.

    Skips (saying why) where podman is not installed; ``make test`` installs it on Debian.
    """
    podman = shutil.which("podman")
    if podman is None:
        pytest.skip("podman is not installed here, so no Docker Engine API can run")
    folder = tmp_path_factory.mktemp("podman")
    conf = folder / "containers.conf"
    # This machine's root lacks CAP_SYS_RESOURCE: keep ulimits below the hard limits.
    conf.write_text('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n')
    socket_path = folder / "podman.sock"
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    process = subprocess.Popen(
        [podman, "--runtime", "runc", "system", "service", "--time=0", f"unix://{socket_path}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not socket_path.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                err = process.stderr.read().decode(errors="replace") if process.stderr else ""
                pytest.fail(f"podman system service did not start: {err[-500:]}")
            time.sleep(0.05)
        yield f"unix://{socket_path}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
