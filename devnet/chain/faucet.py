"""The devnet faucet: ether for gas and uSPON for escrow, from the deployment's admin."""

from __future__ import annotations

from web3 import Web3

from devnet.chain.deploy import Deployment
from devnet.chain.tx import send, send_ether

__all__ = ["USPON_UNIT", "fund"]

USPON_UNIT = 10**6
"""Base units in one uSPON (6 decimals)."""


def fund(w3: Web3, deployment: Deployment, address: str, eth_wei: int, uspon_units: int) -> None:
    """Give ``address`` ``eth_wei`` wei of ether and ``uspon_units`` uSPON base units.

    ``uspon_units`` counts base units: 1 uSPON is :data:`USPON_UNIT` (10**6). The ether comes
    from the admin's balance and the uSPON is minted by the admin (ADMIN_ROLE); zero amounts
    are skipped. Waits for both receipts.
    """
    if eth_wei < 0 or uspon_units < 0:
        raise ValueError("amounts must not be negative")
    to = Web3.to_checksum_address(address)
    if eth_wei:
        send_ether(w3, deployment.admin, to, eth_wei)
    if uspon_units:
        uspon = deployment.contract(w3, "USPON")
        send(w3, uspon.functions.mint(to, uspon_units), deployment.admin)
