"""Helpers for the contract tests: the :class:`Chain` wrapper over a deployed devnet, and
:func:`reverts` to assert a revert by custom-error name.

Reverts surface differently by backend: ``eth_tester.exceptions.TransactionFailed`` in-process
(the revert bytes only as the repr in its message), ``web3.exceptions.ContractCustomError`` /
``ContractLogicError`` over JSON-RPC. :func:`reverts` normalises both and decodes the custom
error's name from a selector map built from every artifact's ABI.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pytest
from eth_tester.exceptions import TransactionFailed
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractLogicError, MismatchedABI
from web3.types import EventData, TxReceipt

from devnet.chain.accounts import gateway_account
from devnet.chain.artifacts import artifacts_dir
from devnet.chain.deploy import Deployment
from devnet.chain.tx import send, send_signed
from fizz_app.core.contracts import ErrorDecoder, revert_data

STATUS = {
    "Unregistered": 0,
    "Registered": 1,
    "Active": 2,
    "Maintenance": 3,
    "Suspended": 4,
    "Deactivated": 5,
}
SPON = 10**18
USPON = 10**6
DEFAULT_SPEC = "macos,8,16,256,,,0.1,us-east,1gbps"


# ------------------------------------------------------------------------------- reverts
# Decoding is the product's own (fizz_app.core.contracts), so these tests also prove that the
# client names every custom error of every contract, whichever way the chain reported it.


@cache
def _decoder() -> ErrorDecoder:
    names = [p.stem for p in artifacts_dir().glob("*.json") if p.name != "resources-seed.json"]
    return ErrorDecoder.for_contracts(sorted(names))


@dataclass
class Revert:
    """A decoded revert: the custom error's name and its arguments."""

    name: str = ""
    args: tuple[Any, ...] = ()
    data: bytes | None = None
    message: str = ""


def decode_revert(exc: BaseException) -> Revert:
    """Decode ``exc`` into a :class:`Revert` (addresses checksummed for easy comparison)."""
    data = revert_data(exc)
    if data is None:
        text = str(exc.args[0]) if exc.args else str(exc)
        reason = text.removeprefix("execution reverted: ")
        return Revert(name="Error" if reason else "", args=(reason,), message=text)
    decoded = _decoder().decode(data)
    args = tuple(
        Web3.to_checksum_address(v) if isinstance(v, str) and Web3.is_address(v) else v
        for v in decoded.args
    )
    return Revert(name=decoded.name, args=args, data=data, message=str(exc))


@contextmanager
def reverts(expected: str) -> Iterator[Revert]:
    """Assert that the block reverts with custom error ``expected``; yields the decoded revert."""
    result = Revert()
    try:
        yield result
    except (TransactionFailed, ContractLogicError) as exc:
        decoded = decode_revert(exc)
        result.name, result.args, result.data, result.message = (
            decoded.name,
            decoded.args,
            decoded.data,
            decoded.message,
        )
    else:
        pytest.fail(f"expected a revert with {expected}, but the call succeeded")
    assert result.name == expected, f"reverted with {result.name!r} {result.args}, not {expected}"


# ------------------------------------------------------------------------------- the chain


@dataclass
class Chain:
    """The deployed devnet plus helpers the tests share."""

    w3: Web3
    deployment: Deployment
    _contracts: dict[str, Contract] = field(default_factory=dict)

    @property
    def admin(self) -> str:
        return self.deployment.admin

    @property
    def accounts(self) -> list[str]:
        """Unlocked accounts; [0] is the admin, the others are free for the tests."""
        return list(self.w3.eth.accounts)

    @property
    def gateway(self) -> str:
        return self.deployment.gateway_address

    @property
    def provider_id(self) -> int:
        return self.deployment.gateway_provider_id

    def c(self, name: str) -> Contract:
        """Contract ``name`` of the deployment."""
        if name not in self._contracts:
            self._contracts[name] = self.deployment.contract(self.w3, name)
        return self._contracts[name]

    def tx(self, call: ContractFunction, sender: str | None = None) -> TxReceipt:
        """Send ``call`` from the unlocked ``sender`` (the admin by default)."""
        return send(self.w3, call, sender or self.admin)

    def tx_as_gateway(self, call: ContractFunction) -> TxReceipt:
        """Send ``call`` signed by the reference gateway's devnet key."""
        return send_signed(self.w3, call, gateway_account())

    def events(self, receipt: TxReceipt, contract: str, event: str) -> list[EventData]:
        """The ``event`` logs of ``contract`` in ``receipt``, decoded."""
        target = self.c(contract)
        logs = [log for log in receipt["logs"] if log["address"] == target.address]
        return [
            decoded
            for decoded in (_try_decode(target, event, log) for log in logs)
            if decoded is not None
        ]

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def travel(self, seconds: int) -> None:
        """Move the chain's clock ``seconds`` forward and mine a block there."""
        self.w3.testing.timeTravel(self.now() + seconds)
        self.w3.testing.mine()

    def register_fizz(
        self,
        wallet: str,
        *,
        reward_wallet: str | None = None,
        provider_id: int | None = None,
        payments: list[str] | None = None,
        spec: str = DEFAULT_SPEC,
    ) -> tuple[int, TxReceipt]:
        """Register ``wallet`` as a fizz node (accepting uSPON by default): (id, receipt)."""
        params = (
            provider_id if provider_id is not None else self.provider_id,
            spec,
            wallet,
            payments if payments is not None else [self.c("USPON").address],
            reward_wallet or wallet,
        )
        receipt = self.tx(self.c("FizzRegistry").functions.addFizzNode(params), wallet)
        fizz_id = int(self.c("FizzRegistry").functions.addressToFizzId(wallet).call())
        return fizz_id, receipt


def _try_decode(contract: Contract, event: str, log: Any) -> EventData | None:
    try:
        return contract.events[event]().process_log(log)
    except MismatchedABI:  # another event of the same contract
        return None
