"""Fixtures for tests that run the gateway or the engine on the in-process chain (loaded by the
root conftest as a pytest plugin).

``gateway_chain`` deploys every contract once per test module; ``one_chain_thread`` makes the
event loop's default executor a single thread, because the in-process chain (py-evm) takes one
caller at a time while the gateway and the engine read it from worker threads. Use them as::

    pytestmark = pytest.mark.usefixtures("one_chain_thread")

    async def test_x(gateway_chain: Chain) -> None: ...
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncIterator

import pytest
from web3 import EthereumTesterProvider, Web3

from devnet.chain.deploy import deploy_all
from tests.devnet.gateway_env import Chain


@pytest.fixture(scope="module")
def gateway_chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    """The in-process devnet with every contract deployed and a chain client over it."""
    w3 = Web3(EthereumTesterProvider())
    return Chain(w3, deploy_all(w3, w3.eth.accounts[0]), tmp_path_factory.mktemp("home"))


@pytest.fixture
async def one_chain_thread() -> AsyncIterator[None]:
    """Run every ``asyncio.to_thread`` of the test's loop on one worker thread."""
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    asyncio.get_running_loop().set_default_executor(executor)
    yield
    executor.shutdown(wait=False)
