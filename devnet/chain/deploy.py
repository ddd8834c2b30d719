"""Deploy and wire every Fizz contract on a local chain.

:func:`deploy_all` works the same on anvil (``HTTPProvider``) and on the in-process chain
(``Web3(EthereumTesterProvider())``): the admin is an account the node holds unlocked
(``w3.eth.accounts[0]`` on both), every transaction waits for its receipt, and the reference
gateway signs its own registration with its deterministic devnet key
(:func:`devnet.chain.accounts.gateway_account`).

Devnet settings: open registration (``autoRegister``) and automatic attribute approval are on,
eras last ``era_seconds`` (120 s by default instead of 24 h), and lease settlements credit the
fizz node in full (fizz share 100 %, protocol 0 %).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from web3 import HTTPProvider, Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction

from devnet.chain.accounts import gateway_account
from devnet.chain.artifacts import load_artifact, load_resource_seed
from devnet.chain.tx import deploy_contract, send, send_ether, send_signed
from fizz_app.core.atomic import write_atomic

__all__ = [
    "CONTRACTS",
    "DEPLOYMENT_FORMAT",
    "GATEWAY_ETH_WEI",
    "GATEWAY_HOST_URI",
    "GATEWAY_SPEC",
    "Deployment",
    "DeploymentError",
    "deploy_all",
    "role_id",
]

DEPLOYMENT_FORMAT = 1
"""Version of the deployment file's layout."""

CONTRACTS: Mapping[str, str] = {
    "AccessControlManager": "AccessControlManager",
    "USPON": "USPON",
    "RewardToken": "RewardToken",
    "TokenRegistry": "TokenRegistry",
    "ProviderRegistry": "ProviderRegistry",
    "FizzRegistry": "FizzRegistry",
    "ResourceRegistryCPU": "ResourceRegistry",
    "ResourceRegistryGPU": "ResourceRegistry",
    "FizzAttributeRegistry": "FizzAttributeRegistry",
    "FizzRewardsManager": "FizzRewardsManager",
    "EscrowUser": "EscrowUser",
    "OrderRequest": "OrderRequest",
    "Bid": "Bid",
    "ComputeLease": "ComputeLease",
    "EscrowProtocol": "EscrowProtocol",
}
"""Deployment name -> artifact name, in deployment order (the ResourceRegistry twice)."""

GATEWAY_SPEC = json.dumps({"n": "devnet-gateway", "r": "local", "a": []}, separators=(",", ":"))
"""The reference gateway's provider spec (the real network's compressed ``{n, r, a}`` form)."""

GATEWAY_HOST_URI = "127.0.0.1"
"""Where the reference gateway listens."""

GATEWAY_ETH_WEI = 100 * 10**18
"""Ether given to the gateway account for its gas (registration, bids)."""

STATUS_ACTIVE = 2
"""NodeStatus.Active."""


class DeploymentError(RuntimeError):
    """The deployment could not be completed, or a deployment file is unusable."""


def role_id(name: str) -> bytes:
    """Return the 32-byte id of role ``name`` (``DEFAULT_ADMIN_ROLE`` is all zeros)."""
    if name == "DEFAULT_ADMIN_ROLE":
        return bytes(32)
    return bytes(Web3.keccak(text=name))


@dataclass(frozen=True)
class Deployment:
    """Where the devnet's contracts are, and who runs them.

    ``addresses`` maps the names of :data:`CONTRACTS` to checksum addresses. ``settler`` holds
    SETTLER_ROLE and SLASHER_ROLE (the matchmaker / settlement account; the admin unless told
    otherwise). The reference gateway is provider ``gateway_provider_id`` with wallet
    ``gateway_address``.
    """

    chain_id: int
    addresses: Mapping[str, str] = field(hash=False)
    admin: str
    settler: str
    gateway_address: str
    gateway_provider_id: int
    deployed_block: int
    era_seconds: int
    rpc_url: str | None = None

    def address(self, name: str) -> str:
        """Return the checksum address of contract ``name`` (a key of :data:`CONTRACTS`)."""
        try:
            return self.addresses[name]
        except KeyError:
            raise KeyError(f"no contract {name!r} in this deployment") from None

    def contract(self, w3: Web3, name: str) -> Contract:
        """Return contract ``name`` bound to ``w3`` with its ABI."""
        artifact = load_artifact(CONTRACTS.get(name, name))
        address = Web3.to_checksum_address(self.address(name))
        return w3.eth.contract(address=address, abi=artifact.abi)

    def to_json(self) -> str:
        """Serialise to JSON (sorted keys, 2-space indent, trailing newline)."""
        data: dict[str, Any] = {
            "format": DEPLOYMENT_FORMAT,
            "chainId": self.chain_id,
            "rpcUrl": self.rpc_url,
            "addresses": dict(sorted(self.addresses.items())),
            "admin": self.admin,
            "settler": self.settler,
            "gateway": {"address": self.gateway_address, "providerId": self.gateway_provider_id},
            "deployedBlock": self.deployed_block,
            "eraSeconds": self.era_seconds,
        }
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Deployment:
        """Parse :meth:`to_json`'s output; raises :class:`DeploymentError` when it is unusable."""
        try:
            data = json.loads(text)
            if data.get("format") != DEPLOYMENT_FORMAT:
                raise DeploymentError(
                    f"deployment file format {data.get('format')!r}, expected {DEPLOYMENT_FORMAT}"
                )
            addresses = {
                str(k): Web3.to_checksum_address(v) for k, v in dict(data["addresses"]).items()
            }
            missing = sorted(set(CONTRACTS) - set(addresses))
            if missing:
                raise DeploymentError(f"deployment file lacks {', '.join(missing)}")
            rpc_url = data.get("rpcUrl")
            return cls(
                chain_id=int(data["chainId"]),
                addresses=addresses,
                admin=Web3.to_checksum_address(data["admin"]),
                settler=Web3.to_checksum_address(data["settler"]),
                gateway_address=Web3.to_checksum_address(data["gateway"]["address"]),
                gateway_provider_id=int(data["gateway"]["providerId"]),
                deployed_block=int(data["deployedBlock"]),
                era_seconds=int(data["eraSeconds"]),
                rpc_url=None if rpc_url is None else str(rpc_url),
            )
        except DeploymentError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DeploymentError(f"not a devnet deployment file: {exc!r}") from exc

    @classmethod
    def read(cls, path: Path) -> Deployment:
        """Read a file written by :meth:`write_deployment_file`."""
        return cls.from_json(path.read_text(encoding="utf-8"))

    def write_deployment_file(self, path: Path) -> None:
        """Write :meth:`to_json` to ``path`` atomically (readable by everyone: no secrets)."""
        write_atomic(Path(path), self.to_json().encode("utf-8"), mode=0o644)


def deploy_all(
    w3: Web3, admin: str, *, era_seconds: int = 120, settler: str | None = None
) -> Deployment:
    """Deploy every contract from ``admin`` (an unlocked account), wire and seed them.

    In order: AccessControlManager, the uSPON and SPON tokens, TokenRegistry (uSPON registered),
    ProviderRegistry, FizzRegistry, the CPU and GPU ResourceRegistries (seeded from
    ``resources/contracts/resources-seed.json``), FizzAttributeRegistry, FizzRewardsManager
    (categories CPU 25 SPON and GPU 500 SPON, eras of ``era_seconds`` from now, MINTER_ROLE on
    SPON), EscrowUser, OrderRequest, Bid, ComputeLease, EscrowProtocol (PROTOCOL_ROLE for the
    four protocol contracts); then open registration and auto-approval, grant ``settler``
    SETTLER_ROLE and SLASHER_ROLE, fund the reference gateway and register it (provider
    ``hostUri`` 127.0.0.1, empty certificate, accepts uSPON, status Active).
    """
    if era_seconds <= 0:
        raise ValueError("era_seconds must be positive")
    admin = Web3.to_checksum_address(admin)
    settler = Web3.to_checksum_address(settler) if settler else admin
    gateway = gateway_account()
    seed = load_resource_seed()

    def deploy(name: str, *args: Any) -> Contract:
        return deploy_contract(w3, load_artifact(CONTRACTS[name]), admin, *args)

    def admin_tx(call: ContractFunction) -> None:
        send(w3, call, admin)

    acm = deploy("AccessControlManager")
    access = acm.address
    uspon = deploy("USPON", access)
    spon = deploy("RewardToken", access)
    tokens = deploy("TokenRegistry", access)
    admin_tx(tokens.functions.addToken(uspon.address))
    providers = deploy("ProviderRegistry", tokens.address, access)
    fizzes = deploy("FizzRegistry", providers.address, tokens.address, admin, access)
    cpu = deploy("ResourceRegistryCPU", access)
    gpu = deploy("ResourceRegistryGPU", access)
    for registry, category in ((cpu, "CPU"), (gpu, "GPU")):
        rows = seed[category].resources
        admin_tx(
            registry.functions.addResource(
                [r.id for r in rows],
                [r.name for r in rows],
                [r.tier for r in rows],
                [r.multiplier for r in rows],
            )
        )
    attributes = deploy("FizzAttributeRegistry", fizzes.address, cpu.address, gpu.address, access)
    rewards = deploy("FizzRewardsManager", attributes.address, spon.address, access)
    admin_tx(acm.functions.grantRole(role_id("MINTER_ROLE"), rewards.address))
    admin_tx(rewards.functions.addCategory("CPU", cpu.address, seed["CPU"].base_reward))
    admin_tx(rewards.functions.addCategory("GPU", gpu.address, seed["GPU"].base_reward))
    genesis = rewards.functions.genesisTimestamp().call()
    admin_tx(rewards.functions.setEraConfig(genesis, era_seconds))

    escrow_user = deploy("EscrowUser", tokens.address, access)
    orders = deploy("OrderRequest", escrow_user.address, tokens.address, access)
    bid = deploy("Bid", orders.address, providers.address, fizzes.address, access)
    lease = deploy("ComputeLease", orders.address, bid.address, access)
    escrow_protocol = deploy(
        "EscrowProtocol",
        escrow_user.address,
        orders.address,
        lease.address,
        fizzes.address,
        admin,
        0,  # userFeePercentage: recorded, not charged
        0,  # protocolFeePercentage
        100,  # fizzNodePercentage: uSPON lease payments reach the fizz in full
        access,
    )
    for contract in (orders, bid, lease, escrow_protocol):
        admin_tx(acm.functions.grantRole(role_id("PROTOCOL_ROLE"), contract.address))
    if settler != admin:
        for role in ("SETTLER_ROLE", "SLASHER_ROLE"):
            admin_tx(acm.functions.grantRole(role_id(role), settler))

    admin_tx(fizzes.functions.updateAutoRegisterState(True))
    admin_tx(attributes.functions.updateAutoApprovalState(True))

    if w3.eth.get_balance(gateway.address) < GATEWAY_ETH_WEI // 2:
        send_ether(w3, admin, gateway.address, GATEWAY_ETH_WEI)
    send_signed(
        w3,
        providers.functions.addProvider(GATEWAY_SPEC, GATEWAY_HOST_URI, "", [uspon.address]),
        gateway,
    )
    provider_id = int(providers.functions.addressToProviderId(gateway.address).call())
    if provider_id == 0:
        raise DeploymentError("the reference gateway did not get a provider id")
    admin_tx(providers.functions.setProviderStatus(provider_id, STATUS_ACTIVE))

    contracts = {
        "AccessControlManager": acm,
        "USPON": uspon,
        "RewardToken": spon,
        "TokenRegistry": tokens,
        "ProviderRegistry": providers,
        "FizzRegistry": fizzes,
        "ResourceRegistryCPU": cpu,
        "ResourceRegistryGPU": gpu,
        "FizzAttributeRegistry": attributes,
        "FizzRewardsManager": rewards,
        "EscrowUser": escrow_user,
        "OrderRequest": orders,
        "Bid": bid,
        "ComputeLease": lease,
        "EscrowProtocol": escrow_protocol,
    }
    provider = w3.provider
    return Deployment(
        chain_id=int(w3.eth.chain_id),
        addresses={name: Web3.to_checksum_address(c.address) for name, c in contracts.items()},
        admin=admin,
        settler=settler,
        gateway_address=gateway.address,
        gateway_provider_id=provider_id,
        deployed_block=int(w3.eth.block_number),
        era_seconds=era_seconds,
        rpc_url=str(provider.endpoint_uri) if isinstance(provider, HTTPProvider) else None,
    )
