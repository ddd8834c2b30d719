"""Chain failures in plain words: every web3, JSON-RPC and revert failure becomes a
:class:`ChainError` whose message a user can act on.

Use :func:`classify` on any exception raised by a chain call; it never raises itself.
"""

from __future__ import annotations

from typing import Any

from .contracts import DecodedRevert, ErrorDecoder, revert_data
from .errors import UserFacingError

__all__ = [
    "ChainError",
    "RpcUnreachableError",
    "WrongChainError",
    "InsufficientFundsError",
    "ContractRevertError",
    "TransactionTimeoutError",
    "classify",
    "REVERT_MESSAGES",
]


class ChainError(UserFacingError):
    """Something on or about the chain failed; the message says what, the remedy what next."""


class RpcUnreachableError(ChainError):
    """The RPC endpoint did not answer (after retries)."""


class WrongChainError(ChainError):
    """The RPC endpoint serves a different chain than the network profile names."""


class InsufficientFundsError(ChainError):
    """The wallet cannot pay for gas (or the value sent)."""


class TransactionTimeoutError(ChainError):
    """A transaction was sent but not mined in time; it is remembered and re-checked."""


class ContractRevertError(ChainError):
    """A contract refused the call; ``revert`` holds the decoded custom error."""

    def __init__(self, message: str, remedy: str, revert: DecodedRevert) -> None:
        super().__init__(message, remedy)
        self.revert = revert

    @property
    def error_name(self) -> str:
        return self.revert.name


REVERT_MESSAGES: dict[str, tuple[str, str]] = {
    "FizzAlreadyRegistered": (
        "This wallet is already registered as a Fizz node.",
        "Nothing to do: run 'fizz-node status' to see the registration.",
    ),
    "FizzNodeNotFound": (
        "This wallet is not registered as a Fizz node yet.",
        "Register the node first ('fizz-node register').",
    ),
    "InactiveFizzNode": (
        "This node is suspended or deactivated on the network.",
        "Ask the network's support why, quoting your wallet address.",
    ),
    "NotWhitelisted": (
        "Registration on this network is by invitation, and this wallet is not on the list.",
        "Ask the network to allow your wallet address, or use the local devnet.",
    ),
    "RegistrationFeeNotPaid": (
        "The network asks for a registration fee that was not paid.",
        "Check the network's current registration terms.",
    ),
    "TokenNotFound": (
        "This node does not accept that payment token.",
        "Check the token address, or add it first.",
    ),
    "UnregisteredToken": (
        "The network does not know that payment token.",
        "Use a token the network lists (uSPON).",
    ),
    "TokenAlreadyAccepted": ("This node already accepts that payment token.", "Nothing to do."),
    "StatusUnchanged": ("The node already has that status.", "Nothing to do."),
    "AlreadySet": ("Nothing changed: the node already has that setting.", "Nothing to do."),
    "InvalidAddress": (
        "The transaction names an invalid address (a node wallet must register itself, with a "
        "non-zero reward address).",
        "Check the reward address in Settings.",
    ),
    "ProviderNotFound": (
        "The chosen gateway does not exist on this network.",
        "Pick another gateway.",
    ),
}
"""Plain words for the custom errors of the network's contracts; others get a generic text."""


def _text(error: BaseException) -> str:
    return " ".join(str(arg) for arg in error.args).lower()


def classify(
    error: BaseException,
    decoder: ErrorDecoder,
    *,
    network_title: str,
    rpc_url: str,
    faucet: str | None = None,
    address: str | None = None,
) -> ChainError:
    """Turn any exception from a chain call into a :class:`ChainError`.

    Args:
        error: what web3, the provider or eth-tester raised.
        decoder: knows the custom errors of the contracts involved.
        network_title: the network's name, for the message.
        rpc_url: the endpoint, for the message.
        faucet: where test tokens come from, suggested when gas funds are missing.
        address: the wallet that sent the transaction, for the message.
    """
    if isinstance(error, ChainError):
        return error
    text = _text(error)
    # Nodes word it "insufficient funds for gas * price + value"; the in-process chain says
    # "cannot afford txn gas".
    if "insufficient funds" in text or "cannot afford" in text:
        remedy = (
            f"Add ETH for gas to {address or 'the wallet'} (test funds: {faucet})."
            if faucet
            else f"Send some ETH for gas to {address or 'the wallet'} on {network_title}."
        )
        return InsufficientFundsError(
            f"The wallet {address or ''} has too little ETH to pay for gas.".replace("  ", " "),
            remedy,
        )
    data = revert_data(error)
    if data is not None or "revert" in text:
        decoded = decoder.decode(data) if data else DecodedRevert("Unknown", (), text[:200])
        message, remedy = REVERT_MESSAGES.get(
            decoded.name,
            (
                f"The contract refused the transaction ({decoded.name}"
                + (f": {decoded.message}" if decoded.message else "")
                + ").",
                "Check the values you entered; if it keeps failing, report it with the log file.",
            ),
        )
        return ContractRevertError(message, remedy, decoded)
    if _is_connection_problem(error):
        return RpcUnreachableError(
            f"Cannot reach the {network_title} network at {rpc_url}.",
            "Check your internet connection, or set another RPC address in Settings.",
        )
    return ChainError(
        f"The {network_title} network returned an error: {type(error).__name__}: "
        f"{str(error)[:200]}",
        "Try again in a minute; if it keeps failing, report it with the log file.",
    )


def _is_connection_problem(error: BaseException) -> bool:
    names = {cls.__name__ for cls in type(error).__mro__}
    connection_types = {
        "ConnectionError",
        "ProviderConnectionError",
        "Timeout",
        "ReadTimeout",
        "ConnectTimeout",
        "TimeoutError",
        "OSError",
        "RequestTimedOut",
        "MaxRetryError",
        "NewConnectionError",
    }
    return bool(names & connection_types)


def revert_name(error: BaseException, decoder: ErrorDecoder) -> str | None:
    """Return the custom error name of a revert, or ``None`` when ``error`` is no revert."""
    data: Any = revert_data(error)
    return decoder.decode(data).name if data else None
