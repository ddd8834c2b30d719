"""Compiled contract artifacts and the resource seed table, read from ``resources/contracts``.

The artifacts are built by ``node contracts/compile.mjs`` and committed; each is
``{"abi", "bytecode", "contractName", "sourceHash"}``. ``resources-seed.json`` holds the CPU and
GPU resource tables the deployment loads into the two ResourceRegistries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from fizz_app.core.paths import resources_dir

__all__ = [
    "Artifact",
    "ResourceCategory",
    "ResourceEntry",
    "artifacts_dir",
    "load_artifact",
    "load_resource_seed",
]

SEED_FILE = "resources-seed.json"
"""Name of the resource table inside :func:`artifacts_dir`."""


@dataclass(frozen=True)
class Artifact:
    """One deployable contract as compiled.

    ``abi`` is shared by every caller of :func:`load_artifact` (it is cached): treat it as
    read-only.
    """

    contract_name: str
    abi: list[dict[str, Any]]
    bytecode: str
    source_hash: str


@dataclass(frozen=True)
class ResourceEntry:
    """One row of a ResourceRegistry: stable id, short name, tier and 18-decimal multiplier."""

    id: int
    name: str
    tier: str
    multiplier: int
    pci_device_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResourceCategory:
    """One reward category: its name, base reward per era in SPON wei, and resource table."""

    name: str
    base_reward: int
    resources: tuple[ResourceEntry, ...]


def artifacts_dir() -> Path:
    """Return the folder holding the artifacts (``resources/contracts``)."""
    return resources_dir() / "contracts"


@cache
def load_artifact(name: str) -> Artifact:
    """Load the artifact of contract ``name`` (e.g. ``"FizzRegistry"``).

    Raises :class:`FileNotFoundError` naming the rebuild command when it is missing, and
    :class:`ValueError` when the file is not an artifact.
    """
    path = artifacts_dir() / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"no contract artifact {path}; rebuild them with `node contracts/compile.mjs`"
        )
    data = json.loads(path.read_text(encoding="utf-8"))
    try:
        artifact = Artifact(
            contract_name=str(data["contractName"]),
            abi=list(data["abi"]),
            bytecode=str(data["bytecode"]),
            source_hash=str(data["sourceHash"]),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a contract artifact: {exc!r}") from exc
    if artifact.contract_name != name or not artifact.bytecode.startswith("0x"):
        raise ValueError(f"{path} does not hold the compiled contract {name}")
    return artifact


def load_resource_seed() -> dict[str, ResourceCategory]:
    """Return the ``"CPU"`` and ``"GPU"`` categories of the seed file.

    Multipliers in the file are decimal strings (``"0.25"``) and come back as 18-decimal
    fixed-point integers (``25 * 10**16``), the unit the ResourceRegistry stores; base rewards
    are whole SPON in the file and SPON wei here.
    """
    path = artifacts_dir() / SEED_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    categories: dict[str, ResourceCategory] = {}
    for name in ("CPU", "GPU"):
        section = data["categories"][name]
        rows = tuple(
            ResourceEntry(
                id=int(row["id"]),
                name=str(row["name"]),
                tier=str(row["tier"]),
                multiplier=to_fixed18(str(row["multiplier"])),
                pci_device_ids=tuple(str(d) for d in row.get("pciDeviceIds", ())),
            )
            for row in section["resources"]
        )
        categories[name] = ResourceCategory(
            name=name, base_reward=to_fixed18(str(section["baseRewardSpon"])), resources=rows
        )
    return categories


def to_fixed18(decimal_text: str) -> int:
    """Convert a non-negative decimal string to an 18-decimal fixed-point integer, exactly.

    >>> to_fixed18("0.25")
    250000000000000000
    """
    whole, _, fraction = decimal_text.strip().partition(".")
    if not whole.isdigit() or (fraction and not fraction.isdigit()) or len(fraction) > 18:
        raise ValueError(f"not a decimal with at most 18 places: {decimal_text!r}")
    return int(whole) * 10**18 + int(fraction.ljust(18, "0") or "0")
