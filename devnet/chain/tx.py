"""Sending transactions and deploying contracts, the same way on anvil and in-process.

Two kinds of sender: an account the node holds unlocked (anvil's and eth-tester's default
accounts: ``eth_sendTransaction``), and a local key (:class:`LocalAccount`: signed here and
sent raw). Every call waits for its receipt and raises :class:`TransactionError` when the
transaction did not succeed.
"""

from __future__ import annotations

from typing import Any, cast

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.types import TxParams, TxReceipt

from devnet.chain.artifacts import Artifact

__all__ = ["RECEIPT_TIMEOUT_S", "TransactionError", "deploy_contract", "send", "send_signed"]

RECEIPT_TIMEOUT_S = 30.0
"""How long to wait for a receipt; the devnet mines every transaction at once."""


class TransactionError(RuntimeError):
    """A transaction was mined but failed (status 0), or never got a receipt."""


def send(
    w3: Web3, call: ContractFunction | ContractConstructor, sender: str, value: int = 0
) -> TxReceipt:
    """Send ``call`` from the unlocked account ``sender`` and return its receipt."""
    params: TxParams = {"from": Web3.to_checksum_address(sender)}
    if value:
        params["value"] = Web3.to_wei(value, "wei")
    tx_hash = call.transact(params)
    return _receipt(w3, tx_hash, _describe(call))


def send_signed(
    w3: Web3, call: ContractFunction, account: LocalAccount, value: int = 0
) -> TxReceipt:
    """Sign ``call`` with ``account``'s local key, send it raw and return its receipt."""
    params: TxParams = {
        "from": account.address,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        "chainId": w3.eth.chain_id,
    }
    if value:
        params["value"] = Web3.to_wei(value, "wei")
    tx = call.build_transaction(params)
    signed = account.sign_transaction(cast(dict[str, Any], tx))
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    return _receipt(w3, tx_hash, _describe(call))


def send_ether(w3: Web3, sender: str, to: str, amount_wei: int) -> TxReceipt:
    """Send ``amount_wei`` from the unlocked account ``sender`` to ``to``."""
    tx_hash = w3.eth.send_transaction(
        {
            "from": Web3.to_checksum_address(sender),
            "to": Web3.to_checksum_address(to),
            "value": Web3.to_wei(amount_wei, "wei"),
        }
    )
    return _receipt(w3, tx_hash, f"ether transfer to {to}")


def deploy_contract(w3: Web3, artifact: Artifact, sender: str, *args: Any) -> Contract:
    """Deploy ``artifact`` with constructor ``args`` from ``sender``; return the bound contract."""
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = send(w3, factory.constructor(*args), sender)
    address = receipt["contractAddress"]
    if address is None:
        raise TransactionError(f"deploying {artifact.contract_name} created no contract")
    return w3.eth.contract(address=address, abi=artifact.abi)


def _receipt(w3: Web3, tx_hash: HexBytes, what: str) -> TxReceipt:
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_S)
    if receipt["status"] != 1:
        raise TransactionError(f"{what} failed (transaction {Web3.to_hex(tx_hash)})")
    return receipt


def _describe(call: ContractFunction | ContractConstructor) -> str:
    name = getattr(call, "fn_name", None) or "constructor"
    address = getattr(call, "address", None)
    return f"{name} on {address}" if address else str(name)
