"""What a tunnel under test is, the registry of them, and the direct-TCP baseline.

A tunnel under test carries TCP connections to one *target*: a server listening on loopback
(the benchmark's sink or HTTP server). ``start()`` returns the address a client connects to in
order to reach that target through the tunnel; ``stop()`` tears everything down. The harness
builds one tunnel per target through a factory found by name in :data:`TUNNELS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

Address = tuple[str, int]
"""A (host, port) pair on loopback."""


class TunnelStartError(RuntimeError):
    """A tunnel could not be brought up; the message says why (with the tools' own output)."""


@runtime_checkable
class TunnelUnderTest(Protocol):
    """One tunnel carrying connections to one target server.

    ``start()`` brings the tunnel up and returns the address (on loopback) that a client
    connects to in order to reach the target through the tunnel. It returns only once that
    address accepts connections. ``stop()`` releases everything the tunnel started (processes,
    sockets, temporary files); it must be safe to call more than once, and after a ``start()``
    that raised or was cancelled part-way.

    Optionally, a tunnel may have a ``details() -> dict[str, str]`` method; the harness puts
    what it returns (versions, cipher, settings) into the results.
    """

    async def start(self) -> Address:
        """Bring the tunnel up; return the address clients connect to."""
        ...

    async def stop(self) -> None:
        """Tear the tunnel down, leaving no process or socket behind."""
        ...


TunnelFactory = Callable[[Address], TunnelUnderTest]
"""Builds a tunnel (not yet started) to the given target address."""


class DirectTcp:
    """The baseline: no tunnel at all, the client connects straight to the target."""

    def __init__(self, target: Address) -> None:
        self._target = target

    async def start(self) -> Address:
        """Return the target itself."""
        return self._target

    async def stop(self) -> None:
        """Nothing to release."""

    def details(self) -> dict[str, str]:
        """Describe the path taken."""
        return {"path": "client -> server, one TCP connection on loopback"}


def _ssh_factory(target: Address) -> TunnelUnderTest:
    from .ssh import SshReverseTunnel  # imported lazily: only the ssh run needs it

    return SshReverseTunnel(target)


def _fizz_factory(target: Address) -> TunnelUnderTest:
    from .fizz import FizzTunnel  # imported lazily: it needs the project's packages

    return FizzTunnel(target)


TUNNELS: dict[str, TunnelFactory] = {
    "direct": DirectTcp,
    "ssh": _ssh_factory,
    "fizz": _fizz_factory,
}
"""Tunnels the harness knows, by name, in the order they run. ``direct`` and ``ssh`` are the
references that ratios are computed against. Add the project's tunnel with
:func:`register_tunnel` (``"fizz"``)."""

REFERENCES: tuple[str, ...] = ("direct", "ssh")
"""Tunnels every other tunnel is compared with (``ratio_vs_<name>`` keys)."""


def register_tunnel(name: str, factory: TunnelFactory, *, replace: bool = False) -> None:
    """Make a tunnel available to the harness under ``name`` (e.g. ``"fizz"``).

    ``factory(target)`` must return an object following :class:`TunnelUnderTest`, not yet
    started. Registering an existing name raises ``ValueError`` unless ``replace`` is true.
    """
    if not name or "," in name or name != name.strip():
        raise ValueError(f"bad tunnel name: {name!r}")
    if name in TUNNELS and not replace:
        raise ValueError(f"a tunnel named {name!r} is already registered")
    TUNNELS[name] = factory
