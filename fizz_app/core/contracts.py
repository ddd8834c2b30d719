"""Contract ABIs shipped with the app, and decoding of reverts into custom-error names.

The ABIs live in ``resources/contracts/<Name>.json`` (built from ``contracts/src`` and committed,
so the app never needs a compiler). :func:`load_abi` reads one; :class:`ErrorDecoder` turns the
revert of any of them into ``("FizzAlreadyRegistered", (...))``, whichever way the chain
reported it: anvil and real nodes answer with JSON-RPC error data, the in-process test chain
raises ``TransactionFailed`` with the data in the message.
"""

from __future__ import annotations

import ast
import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.crypto import keccak

from .paths import resources_dir

__all__ = [
    "load_abi",
    "canonical_type",
    "abi_signature",
    "DecodedRevert",
    "ErrorDecoder",
    "revert_data",
]

ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")
"""``Error(string)``: a plain ``require`` message."""
PANIC_SELECTOR = bytes.fromhex("4e487b71")
"""``Panic(uint256)``: an assert, overflow or division by zero."""

_HEX_DATA = re.compile(r"0x[0-9a-fA-F]{8,}")


@functools.cache
def load_abi(contract: str) -> tuple[dict[str, Any], ...]:
    """Return the ABI of ``contract`` (``FizzRegistry``, ``ResourceRegistry``...).

    Raises:
        FileNotFoundError: the app's contract artifacts are missing (a broken install).
    """
    path = resources_dir() / "contracts" / f"{contract}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    return tuple(data["abi"])


def canonical_type(item: dict[str, Any]) -> str:
    """The canonical ABI type of one parameter: tuples spelled out, array suffixes kept."""
    kind = str(item["type"])
    if kind.startswith("tuple"):
        inner = ",".join(canonical_type(c) for c in item.get("components", []))
        return f"({inner}){kind[len('tuple') :]}"
    return kind


def abi_signature(item: dict[str, Any]) -> str:
    """``name(type,...)`` of an ABI function, event or error: what selectors hash."""
    types = ",".join(canonical_type(i) for i in item.get("inputs", []))
    return f"{item['name']}({types})"


@dataclass(frozen=True)
class DecodedRevert:
    """A revert in words: a custom error's name and arguments, a ``require`` message, or a
    panic code."""

    name: str
    """Custom error name, ``Error`` for a message, ``Panic`` for a panic, ``Unknown``."""
    args: tuple[Any, ...] = ()
    message: str = ""


class ErrorDecoder:
    """Maps 4-byte error selectors of the given ABIs to their custom errors."""

    def __init__(self, abis: Iterable[Iterable[dict[str, Any]]]) -> None:
        self._errors: dict[bytes, tuple[str, list[str]]] = {}
        for abi in abis:
            for item in abi:
                if item.get("type") != "error":
                    continue
                signature = abi_signature(item)
                selector = keccak(text=signature)[:4]
                types = [canonical_type(i) for i in item.get("inputs", [])]
                self._errors[selector] = (str(item["name"]), types)

    @classmethod
    def for_contracts(cls, names: Iterable[str]) -> ErrorDecoder:
        """Build a decoder for the shipped ABIs of ``names``."""
        return cls(load_abi(name) for name in names)

    def decode(self, data: bytes) -> DecodedRevert:
        """Decode revert ``data`` (selector + ABI-encoded arguments)."""
        selector, body = data[:4], data[4:]
        try:
            if selector == ERROR_STRING_SELECTOR:
                (message,) = abi_decode(["string"], body)
                return DecodedRevert("Error", (message,), str(message))
            if selector == PANIC_SELECTOR:
                (code,) = abi_decode(["uint256"], body)
                return DecodedRevert("Panic", (code,), f"panic 0x{code:02x}")
            if selector in self._errors:
                name, types = self._errors[selector]
                return DecodedRevert(name, tuple(abi_decode(types, body)) if types else ())
        except Exception:  # malformed arguments: the name alone is still useful
            if selector in self._errors:
                return DecodedRevert(self._errors[selector][0])
        return DecodedRevert("Unknown", (), f"revert data 0x{data.hex()}")


def revert_data(error: BaseException) -> bytes | None:
    """Return the raw revert data carried by ``error``, or ``None`` when it carries none.

    Understands web3's ``ContractLogicError``/``ContractCustomError`` (``.data`` as hex or a
    dict), JSON-RPC errors whose ``data`` holds the revert, and eth-tester's
    ``TransactionFailed`` whose message holds the bytes' repr.
    """
    # The in-process chain re-raises with a decoded text when the payload happens to decode as
    # a string (InvalidCategory("RAM") becomes "RAM"); the exact bytes are still on the exception
    # it was raised from.
    inner = error.__context__
    while inner is not None:
        if type(inner).__name__ in ("TransactionFailed", "Revert"):
            found = _bytes_in_args(inner)
            if found is not None:
                return found
        inner = inner.__context__
    return _direct_revert_data(error)


def _bytes_in_args(error: BaseException) -> bytes | None:
    # py-evm raises Revert(bytes); eth-tester wraps it as TransactionFailed(Revert(bytes)).
    for arg in error.args:
        if isinstance(arg, Exception):
            arg = arg.args[0] if arg.args else None
        if isinstance(arg, bytes) and len(arg) >= 4:
            return arg
    return None


def _direct_revert_data(error: BaseException) -> bytes | None:
    data = getattr(error, "data", None)
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    response = getattr(error, "rpc_response", None)
    if isinstance(response, dict):
        rpc_data = (response.get("error") or {}).get("data")
        if isinstance(rpc_data, str) and rpc_data.startswith("0x"):
            return bytes.fromhex(rpc_data[2:])
    for arg in error.args:
        if isinstance(arg, bytes) and len(arg) >= 4:
            return arg
        if isinstance(arg, str):
            found = _data_in_text(arg)
            if found is not None:
                return found
    return None


def _data_in_text(text: str) -> bytes | None:
    # eth-tester: "execution reverted: b'\\x8f\\x12...'" (the repr of the revert bytes).
    marker = text.find("b'")
    if marker == -1:
        marker = text.find('b"')
    if marker != -1:
        try:
            value = ast.literal_eval(text[marker:])
        except (ValueError, SyntaxError):
            value = None
        if isinstance(value, bytes) and len(value) >= 4:
            return value
    match = _HEX_DATA.search(text)
    if match and len(match.group()) % 2 == 0:
        return bytes.fromhex(match.group()[2:])
    return None
