"""Where the Docker Engine API lives on this machine, and how to open a client to it.

Docker Engine, Docker Desktop and Podman's Docker-compatible service all speak the same API on
a unix socket (or a named pipe on Windows). :func:`container_engine_endpoints` lists the ones
worth trying, ``DOCKER_HOST`` first; :func:`connect` opens a ``docker.DockerClient`` on the first
that answers. The hardware check and the container runner both use them, so the check and the
runner never disagree about which engine the node uses.
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the SDK pulls in requests: imported only when a client is really opened
    import docker

__all__ = [
    "container_engine_endpoints",
    "is_socket",
    "EngineConnection",
    "EngineUnreachable",
    "connect",
    "ENGINE_REMEDY",
]

ENGINE_REMEDY = (
    "Start Docker Desktop, Docker Engine or Podman's API service "
    "(`podman system service`), or set DOCKER_HOST to its socket."
)
"""What the node's owner can do when no container engine answers."""


def container_engine_endpoints() -> list[str]:
    """Return Docker Engine API endpoints worth trying, most specific first.

    ``DOCKER_HOST`` wins when set (it is trusted as given, even when its socket is missing);
    then Docker's and Podman's usual sockets for this user, only those that exist.
    """
    host = os.environ.get("DOCKER_HOST", "").strip()
    if host:
        return [host]
    if sys.platform == "win32":
        return ["npipe:////./pipe/docker_engine", "npipe:////./pipe/podman-machine-default"]
    candidates = [Path("/var/run/docker.sock"), Path.home() / ".docker/run/docker.sock"]
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    if runtime_dir:
        candidates += [Path(runtime_dir) / "docker.sock", Path(runtime_dir) / "podman/podman.sock"]
    candidates += [Path("/run/podman/podman.sock"), Path("/tmp/podman.sock")]
    if sys.platform == "darwin":
        candidates.append(Path.home() / ".colima/default/docker.sock")
    return [f"unix://{path}" for path in candidates if is_socket(path)]


def is_socket(path: Path) -> bool:
    """Whether ``path`` exists and is a unix socket (never raises)."""
    try:
        return stat.S_ISSOCK(path.stat().st_mode)
    except OSError:
        return False


class EngineUnreachable(Exception):
    """No endpoint answered. ``problems`` has one line per endpoint tried (empty when none
    was found); ``str()`` is a sentence for the user."""

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message)
        self.problems = problems


@dataclass(frozen=True)
class EngineConnection:
    """An open client and what answered. Close ``client`` when done."""

    client: docker.DockerClient
    endpoint: str
    name: str
    """The engine's own name, e.g. ``Docker Engine`` or ``Podman Engine``."""
    version: str | None

    @property
    def is_podman(self) -> bool:
        return "podman" in self.name.lower()


def connect(
    base_url: str | None = None, *, timeout: float = 30.0, max_pool_size: int = 32
) -> EngineConnection:
    """Open a client on ``base_url``, or on the first of :func:`container_engine_endpoints`
    that answers ``/_ping``; ``timeout`` applies to every request made with the client.

    Raises:
        EngineUnreachable: nothing answered; the message names each endpoint and why.
    """
    # Imported here: the SDK pulls in requests, which costs start-up time when there is no engine.
    import docker
    import docker.errors

    endpoints = [base_url] if base_url else container_engine_endpoints()
    if not endpoints:
        raise EngineUnreachable("No Docker or Podman API socket found", [])
    problems: list[str] = []
    for endpoint in endpoints:
        if endpoint.startswith("unix://") and not is_socket(Path(endpoint[len("unix://") :])):
            problems.append(f"{endpoint} does not exist (is the engine running?)")
            continue
        try:
            client = docker.DockerClient(
                base_url=endpoint, timeout=timeout, max_pool_size=max_pool_size
            )
        except docker.errors.DockerException as error:
            problems.append(f"{endpoint} cannot be used: {error}")
            continue
        try:
            if not client.ping():
                raise docker.errors.APIError("ping did not answer OK")
            version = client.version()
        except Exception as error:  # requests/urllib3/socket errors all mean "not answering"
            client.close()
            problems.append(f"{endpoint} does not answer ({type(error).__name__}: {error})")
            continue
        components = version.get("Components") or [{}]
        return EngineConnection(
            client=client,
            endpoint=endpoint,
            name=str(components[0].get("Name") or "Docker Engine"),
            version=str(version.get("Version") or "") or None,
        )
    raise EngineUnreachable(problems[0][:240], problems)
