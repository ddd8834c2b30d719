"""Deterministic devnet accounts whose keys are public by design.

The reference gateway signs its own transactions (it registers itself in the
ProviderRegistry and places bids), so it needs a key the devnet's gateway process can use
too. The key is derived from a fixed label: every devnet run, on anvil or in-process, gets
the same gateway address. Never use these keys on a real network.
"""

from __future__ import annotations

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

__all__ = ["GATEWAY_LABEL", "devnet_account", "gateway_account"]

GATEWAY_LABEL = "gateway-1"
"""Label of the reference gateway's key."""


def devnet_account(label: str) -> LocalAccount:
    """Return the account with private key ``keccak256("fizz-node-desktop devnet <label>")``."""
    key = bytes(Web3.keccak(text=f"fizz-node-desktop devnet {label}"))
    account: LocalAccount = Account.from_key(key)
    return account


def gateway_account() -> LocalAccount:
    """Return the reference gateway's account."""
    return devnet_account(GATEWAY_LABEL)
