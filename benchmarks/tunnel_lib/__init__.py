"""Helpers of ``benchmarks/tunnel.py``: tunnels under test, servers, workloads, the runner.

The project's own tunnel plugs in with :func:`register_tunnel` (see ``tunnels.py``).
"""

from __future__ import annotations

from .runner import BenchOptions, compare, describe_machine, run_benchmarks
from .tunnels import (
    REFERENCES,
    TUNNELS,
    Address,
    DirectTcp,
    TunnelFactory,
    TunnelStartError,
    TunnelUnderTest,
    register_tunnel,
)

__all__ = [
    "REFERENCES",
    "TUNNELS",
    "Address",
    "BenchOptions",
    "DirectTcp",
    "TunnelFactory",
    "TunnelStartError",
    "TunnelUnderTest",
    "compare",
    "describe_machine",
    "register_tunnel",
    "run_benchmarks",
]
