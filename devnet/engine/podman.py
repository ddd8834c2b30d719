"""Start a private Podman service that serves the Docker Engine API on a socket of our own.

This machine's constraints (toolchain.md): root lacks CAP_SYS_RESOURCE, so the default ulimits
must stay below the hard limits, and cgroups are v1/hybrid, so the runtime must be runc. The
service runs in its own session and folder (conmon drops an ``oom`` marker file in its working
folder whenever a container is OOM-killed); leaving the context stops the whole process group.

Its registries.conf is private too (in place of the host's /etc/containers/registries.conf):
only the registries it is given as ``insecure_registries`` (a local registry over plain HTTP,
such as :class:`devnet.engine.registry.LocalRegistry`) may be pulled from without TLS.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

__all__ = ["PodmanService", "PodmanUnavailable", "registries_conf"]

_CONTAINERS_CONF = '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'


def registries_conf(insecure_registries: Sequence[str] = ()) -> str:
    """A registries.conf (v2) that lets Podman pull over plain HTTP from each of
    ``insecure_registries`` and from no other: ``host:port`` (``127.0.0.1:5000``) for one
    registry, or a bare ``host`` (``127.0.0.1``), which Podman matches on every port."""
    lines = ["# Written by devnet.engine.podman for one private Podman service.", ""]
    for location in insecure_registries:
        if not re.fullmatch(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?", location):
            raise ValueError(f"not a registry location (host or host:port): {location!r}")
        lines += ["[[registry]]", f'location = "{location}"', "insecure = true", ""]
    return "\n".join(lines)


class PodmanUnavailable(RuntimeError):
    """Podman is not installed, or its service did not come up (the message says which)."""


class PodmanService:
    """``with PodmanService(folder) as url:`` gives ``unix://<folder>/podman.sock``.

    ``insecure_registries`` are the registries it may pull from over plain HTTP: pass a
    local registry's ``address`` (``127.0.0.1:PORT``), or ``"127.0.0.1"`` for any registry
    on the loopback, whatever port it gets later.

    Raises:
        PodmanUnavailable: no ``podman`` binary, or the service did not start within
            ``timeout`` seconds (its last error lines are in the message).
    """

    def __init__(
        self,
        folder: Path,
        *,
        timeout: float = 30.0,
        insecure_registries: Sequence[str] = (),
    ) -> None:
        self.folder = folder
        self.insecure_registries = tuple(insecure_registries)
        registries_conf(self.insecure_registries)  # a bad location fails here, not in podman
        self.socket = folder / "podman.sock"
        self.url = f"unix://{self.socket}"
        self._timeout = timeout
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> str:
        podman = shutil.which("podman")
        if podman is None:
            raise PodmanUnavailable(
                "podman is not installed, so no Docker Engine API can run here "
                "(Debian: apt-get install podman runc busybox-static)"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        conf = self.folder / "containers.conf"
        conf.write_text(_CONTAINERS_CONF)
        registries = self.folder / "registries.conf"
        registries.write_text(registries_conf(self.insecure_registries))
        env = {
            **os.environ,
            "CONTAINERS_CONF": str(conf),
            "CONTAINERS_REGISTRIES_CONF": str(registries),
        }
        process = subprocess.Popen(
            [podman, "--runtime", "runc", "system", "service", "--time=0", self.url],
            env=env,
            cwd=self.folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self._process = process
        deadline = time.monotonic() + self._timeout
        while not self.socket.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                error = process.stderr.read().decode(errors="replace") if process.stderr else ""
                raise PodmanUnavailable(f"podman system service did not start: {error[-500:]}")
            time.sleep(0.05)
        return self.url

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop the service (SIGTERM, then SIGKILL after 10 s) and wait for it."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
