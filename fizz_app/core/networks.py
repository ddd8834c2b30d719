"""Network profiles: which chain, which RPC endpoints, which contract addresses.

Profiles are data files in ``resources/networks/<name>.json``: ``base`` and ``base-sepolia``
carry the real network's published addresses; ``devnet`` reads its addresses from the
deployment file that ``fizz-node devnet chain`` writes into the data folder. Load one with
:func:`load_network`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import UserFacingError
from .paths import resources_dir
from .validation import first_problem

__all__ = ["NetworkProfile", "NetworkError", "available_networks", "load_network"]

_ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"


class NetworkError(UserFacingError):
    """A network profile is unknown, malformed, or (devnet) not deployed yet."""


class NetworkProfile(BaseModel):
    """One chain the node can register on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    title: str
    chain_id: int = Field(gt=0)
    rpc_urls: tuple[str, ...] = Field(min_length=1, repr=False)
    """A custom one may hold an API key: kept out of ``repr`` (logs, tracebacks); show an
    address with :func:`~fizz_app.core.chain_health.public_url`."""
    explorer: str | None = None
    faucet: str | None = None
    """Where test tokens come from (a URL, or the devnet's command); ``None`` on mainnet."""
    testnet: bool
    native_symbol: str = "ETH"
    sources: tuple[str, ...] = ()
    deployment_file: str | None = None
    """Devnet only: the deployment file, relative to the data folder."""
    default_gateway_id: int | None = None
    """The gateway new nodes link to unless the user picks one (the devnet's own gateway)."""
    contracts: dict[str, str]

    @field_validator("contracts")
    @classmethod
    def _addresses_look_right(cls, value: dict[str, str]) -> dict[str, str]:
        import re

        for name, address in value.items():
            if not re.match(_ADDRESS_PATTERN, address):
                raise ValueError(f"contract {name} has a malformed address {address!r}")
        return value

    @property
    def rpc_url(self) -> str:
        """The first (preferred) RPC endpoint."""
        return self.rpc_urls[0]

    def address(self, contract: str) -> str:
        """Return the address of ``contract``.

        Raises:
            NetworkError: this network has no such contract (the testnet lacks a few).
        """
        try:
            return self.contracts[contract]
        except KeyError:
            raise NetworkError(
                f"The {self.title} network has no {contract} contract.",
                "Choose another network in Settings.",
            ) from None

    def explorer_tx_url(self, tx_hash: str) -> str | None:
        """Return a block-explorer link for a transaction, when the network has an explorer."""
        return f"{self.explorer}/tx/{tx_hash}" if self.explorer else None


def _networks_dir() -> Path:
    return resources_dir() / "networks"


def available_networks() -> list[str]:
    """Return the names of the shipped network profiles, sorted."""
    return sorted(path.stem for path in _networks_dir().glob("*.json"))


def load_network(name: str, data_dir: Path, *, rpc_url: str | None = None) -> NetworkProfile:
    """Load the network called ``name``.

    Args:
        name: ``devnet``, ``base-sepolia`` or ``base``.
        data_dir: the app's data folder (the devnet's deployment file lives there).
        rpc_url: a custom RPC endpoint that replaces the profile's (and the devnet file's).

    Raises:
        NetworkError: unknown name, malformed profile, or a devnet that is not deployed.
    """
    path = _networks_dir() / f"{name}.json"
    if "/" in name or "\\" in name or not path.is_file():
        known = ", ".join(available_networks()) or "none"
        raise NetworkError(f"Unknown network {name!r}.", f"Choose one of: {known}.")
    raw = _read_json(path, "Reinstall the app to restore it.")
    if raw.get("deployment_file"):
        raw = _with_deployment(raw, data_dir / str(raw["deployment_file"]))
    if rpc_url:
        raw["rpc_urls"] = [rpc_url]
    try:
        return NetworkProfile.model_validate(raw)
    except ValidationError as error:
        problem = first_problem(error)
        raise NetworkError(
            f"Network profile {name!r} has a bad field {problem.field!r}: {problem.message}.",
            "Reinstall the app, or restart the devnet to rewrite its deployment file.",
        ) from None


def _with_deployment(raw: dict[str, Any], deployment: Path) -> dict[str, Any]:
    if not deployment.is_file():
        raise NetworkError(
            f"The local devnet is not deployed (no {deployment}).",
            "Start it with: fizz-node devnet chain",
        )
    data = _read_json(deployment, "Restart the devnet: fizz-node devnet chain")
    try:
        merged = dict(raw)
        # The devnet's deployment file (devnet/chain/deploy.py, format 1).
        merged["chain_id"] = int(data["chainId"])
        if data.get("rpcUrl"):
            merged["rpc_urls"] = [str(data["rpcUrl"])]
        merged["contracts"] = {str(k): str(v) for k, v in dict(data["addresses"]).items()}
        gateway = data.get("gateway") or {}
        if gateway.get("providerId"):
            merged["default_gateway_id"] = int(gateway["providerId"])
    except (KeyError, TypeError, ValueError):
        raise NetworkError(
            f"The devnet deployment file {deployment} is incomplete.",
            "Restart the devnet: fizz-node devnet chain",
        ) from None
    return merged


def _read_json(path: Path, remedy: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise NetworkError(f"{path} cannot be read: {error}.", remedy) from None
    if not isinstance(data, dict):
        raise NetworkError(f"{path} must hold a JSON object.", remedy)
    return data
