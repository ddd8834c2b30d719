"""Fixtures shared by the devnet tests: ``gateway``, the reference gateway over the requesting
module's ``chain`` fixture (each module builds its own chain: in-process or anvil)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devnet.gateway.server import GatewayServer
from tests.devnet.gateway_env import Chain, gateway_running


@pytest.fixture
async def gateway(chain: Chain, tmp_path: Path) -> AsyncIterator[GatewayServer]:
    """:func:`~tests.devnet.gateway_env.gateway_running` on the module's ``chain``, for one
    test (stopped after it)."""
    async with gateway_running(chain, tmp_path) as server:
        yield server
