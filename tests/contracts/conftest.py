"""Fixtures for the contract tests: the whole devnet deployed once per session on the
in-process chain (eth-tester + py-evm), rolled back to a snapshot after every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web3 import EthereumTesterProvider, Web3

from devnet.chain.deploy import Deployment, deploy_all
from tests.contracts.helpers import Chain


@pytest.fixture(scope="session")
def _deployed() -> tuple[Web3, Deployment]:
    w3 = Web3(EthereumTesterProvider())
    return w3, deploy_all(w3, w3.eth.accounts[0])


@pytest.fixture
def chain(_deployed: tuple[Web3, Deployment]) -> Iterator[Chain]:
    """The deployed devnet; every change a test makes is rolled back afterwards."""
    w3, deployment = _deployed
    snapshot = w3.testing.snapshot()
    try:
        yield Chain(w3, deployment)
    finally:
        w3.testing.revert(snapshot)
