"""Leases on chain: which Fizz node a tenant's lease runs on, read from ComputeLease.

On the real network a lease exists on chain before the tenant sends its manifest
(spheron-network.md §6.1: order, bid, match, ``ComputeLease.createLease``); the gateway learns
the node from the lease's ``fizzId`` and maps it to the node's wallet through FizzRegistry, the
same registry logins are checked against (:mod:`devnet.gateway.auth`). The lease id is the
order id, a decimal number.

Reads run in a worker thread (web3 blocks), like every other chain read of the gateway.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from web3 import Web3
from web3.exceptions import ContractLogicError

from fizz_app.core.chain import AsyncChainClient
from fizz_app.core.contracts import load_abi

__all__ = ["ChainLease", "ChainLeaseError", "ChainLeases", "chain_lease_number"]

_ZERO = "0x" + "00" * 20
_UINT256_MAX = 2**256 - 1
_ACTIVE = 0  # ComputeLease.LeaseState.Active, as on the real network


class ChainLeaseError(Exception):
    """The chain could not be read (or has no ComputeLease on this network)."""


@dataclass(frozen=True)
class ChainLease:
    """One ComputeLease row, with the node's wallet resolved."""

    lease_id: int
    fizz_id: int
    order_id: int
    accepted_price: int
    """Per block, in the payment token's base units."""
    provider: str
    """The gateway (provider) wallet the lease was matched to, checksummed."""
    tenant: str
    active: bool
    node: str
    """The Fizz node's wallet (FizzRegistry ``getFizz(fizzId)``), checksummed; the zero
    address when the node has left the registry."""


def chain_lease_number(lease_id: str) -> int | None:
    """The on-chain id a lease id names (a decimal uint256), or ``None`` when it names none."""
    if not lease_id.isascii() or not lease_id.isdigit() or len(lease_id) > 78:
        return None
    number = int(lease_id)
    return number if 0 < number <= _UINT256_MAX else None


class ChainLeases:
    """Reads leases and gateway wallets through the gateway's chain client."""

    def __init__(self, chain: AsyncChainClient) -> None:
        self.chain = chain
        self._contracts: dict[str, Any] = {}
        self._wallets: dict[int, str] = {}

    async def get(self, lease_id: int) -> ChainLease | None:
        """The lease, or ``None`` when the chain has no lease with that id.

        Raises:
            ChainLeaseError: the chain did not answer, or the network has no ComputeLease.
        """
        try:
            return await asyncio.to_thread(self._read, lease_id)
        except Exception as error:  # web3 raises many types; all mean "cannot read"
            raise ChainLeaseError(f"cannot read lease {lease_id} on chain: {error}") from None

    async def gateway_wallet(self, provider_id: int) -> str:
        """The wallet of gateway ``provider_id`` (cached: it never changes for a provider).

        Raises:
            ChainLeaseError: the chain did not answer, or there is no such gateway.
        """
        wallet = self._wallets.get(provider_id)
        if wallet is None:
            try:
                info = await self.chain.gateway(provider_id)
            except Exception as error:
                raise ChainLeaseError(f"cannot read gateway {provider_id}: {error}") from None
            wallet = self._wallets[provider_id] = info.wallet_address
        return wallet

    def _contract(self, name: str) -> Any:
        contract = self._contracts.get(name)
        if contract is None:
            client = self.chain.client
            address = Web3.to_checksum_address(client.network.address(name))
            contract = client.w3.eth.contract(address=address, abi=load_abi(name))
            self._contracts[name] = contract
        return contract

    def _read(self, lease_id: int) -> ChainLease | None:
        row = self._contract("ComputeLease").functions.leases(lease_id).call()
        _id, fizz_id, order_id, price, provider, tenant, _block, _start, _end, state = row
        if tenant == _ZERO:
            return None
        node: str
        try:
            fizz = self._contract("FizzRegistry").functions.getFizz(int(fizz_id)).call()
            node = Web3.to_checksum_address(fizz[5])
        except ContractLogicError:  # FizzNodeNotFound: the node left the registry
            node = _ZERO
        return ChainLease(
            lease_id=lease_id,
            fizz_id=int(fizz_id),
            order_id=int(order_id),
            accepted_price=int(price),
            provider=Web3.to_checksum_address(provider),
            tenant=Web3.to_checksum_address(tenant),
            active=int(state) == _ACTIVE,
            node=node,
        )
