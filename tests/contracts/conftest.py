"""Fixtures for the contract tests: the whole devnet deployed once per session on the
in-process chain (eth-tester + py-evm), rolled back to a snapshot after every test.

Reverts surface differently by backend: ``eth_tester.exceptions.TransactionFailed`` in-process
(the revert bytes only as the repr in its message), ``web3.exceptions.ContractCustomError`` /
``ContractLogicError`` over JSON-RPC. :func:`reverts` normalises both and decodes the custom
error's name from a selector map built from every artifact's ABI.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pytest
from eth_abi import decode as abi_decode
from eth_tester.exceptions import TransactionFailed
from eth_utils import keccak
from web3 import EthereumTesterProvider, Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractLogicError, MismatchedABI
from web3.types import EventData, TxReceipt

from devnet.chain.accounts import gateway_account
from devnet.chain.artifacts import artifacts_dir, load_artifact
from devnet.chain.deploy import Deployment, deploy_all
from devnet.chain.tx import send, send_signed

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


# ------------------------------------------------------------------------------- ABI helpers


def canonical_type(param: dict[str, Any]) -> str:
    """The canonical ABI type of one parameter: tuples spelled out, array suffixes kept."""
    kind = str(param["type"])
    if kind.startswith("tuple"):
        inner = ",".join(canonical_type(c) for c in param["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


def signature_of(entry: dict[str, Any]) -> str:
    """``name(type,...)`` of an ABI function, event or error entry."""
    types = ",".join(canonical_type(p) for p in entry.get("inputs", []))
    return f"{entry.get('name', entry['type'])}({types})"


@cache
def error_map() -> dict[bytes, tuple[str, list[str]]]:
    """Selector -> (error name, argument types) over every artifact's ABI (and Error/Panic)."""
    found: dict[bytes, tuple[str, list[str]]] = {
        keccak(text="Error(string)")[:4]: ("Error", ["string"]),
        keccak(text="Panic(uint256)")[:4]: ("Panic", ["uint256"]),
    }
    for path in sorted(artifacts_dir().glob("*.json")):
        if path.name == "resources-seed.json":
            continue
        for entry in load_artifact(path.stem).abi:
            if entry["type"] == "error":
                types = [canonical_type(p) for p in entry["inputs"]]
                found[keccak(text=signature_of(entry))[:4]] = (entry["name"], types)
    return found


def revert_data(exc: BaseException) -> bytes | None:
    """The raw revert bytes carried by ``exc``, or None when it carries none.

    In-process, web3's tester provider re-raises eth-tester's ``TransactionFailed`` with a
    message (and, for errors whose payload happens to decode as a string, loses the selector);
    the original exception, with the raw bytes, is the new one's ``__context__``.
    """
    if isinstance(exc, ContractLogicError):
        data = exc.data
        if isinstance(data, str) and data.startswith("0x"):
            return bytes.fromhex(data[2:])
        return None
    seen: BaseException | None = exc
    while seen is not None:
        first = seen.args[0] if seen.args else None
        if isinstance(first, Exception) and first.args:
            first = first.args[0]
        if isinstance(first, bytes):
            return first
        seen = seen.__cause__ or seen.__context__
    if isinstance(exc, TransactionFailed):
        message = str(exc.args[0]) if exc.args else ""
        message = message.removeprefix("execution reverted: ")
        if message.startswith(("b'", 'b"')):
            value = ast.literal_eval(message)
            return value if isinstance(value, bytes) else None
    return None


@dataclass
class Revert:
    """A decoded revert: the custom error's name and its arguments."""

    name: str = ""
    args: tuple[Any, ...] = ()
    data: bytes | None = None
    message: str = ""


def decode_revert(exc: BaseException) -> Revert:
    """Decode ``exc`` into a :class:`Revert` (name ``"<unknown>"`` for an unmapped selector)."""
    data = revert_data(exc)
    if data is None:
        text = str(exc.args[0]) if exc.args else str(exc)
        reason = text.removeprefix("execution reverted: ")
        return Revert(name="Error" if reason else "", args=(reason,), message=text)
    if len(data) < 4:
        return Revert(name="", data=data, message=str(exc))
    name, types = error_map().get(data[:4], ("<unknown>", []))
    values = abi_decode(types, data[4:]) if types else ()
    args = tuple(
        Web3.to_checksum_address(v) if t == "address" else v
        for t, v in zip(types, values, strict=True)
    )
    return Revert(name=name, args=args, data=data, message=str(exc))


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
