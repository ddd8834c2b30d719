"""The Fizz node ``spec`` string registered on chain, built from what the node offers.

The real network stores a node's description as one comma-separated string in
``FizzRegistry`` and reads the region from **index 7** (spheron-network.md 3.3); the other
positions are not published. This client emits, in order:

=====  ===============  ===========================================================
index  field            example / values
=====  ===============  ===========================================================
0      os               ``linux``, ``wsl``, ``macos``, ``windows`` (fizzup's OS_ID)
1      node_type        ``cpu`` or ``gpu``
2      cpu_units        CPU threads offered, ``8``
3      memory_gb        RAM offered in GB, ``16``
4      storage_gb       storage offered in GB, ``200``
5      gpu_model        network short name (``rtx4090``) or ``none``
6      gpu_units        ``0`` or ``1``
7      region           region code (``us-east``, ``india``...), the network reads this
8      bandwidth        bandwidth bucket (``100mbps``...) or ``NA``
9      arch             ``x86_64`` or ``arm64``
10     client_version   this app's version, ``0.1.0``
=====  ===============  ===========================================================

:func:`parse_spec` reads the same layout back (and tolerates shorter strings written by other
clients, keeping what it can).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

__all__ = ["NodeSpec", "REGION_INDEX", "build_spec", "parse_spec", "gpu_short_name"]

REGION_INDEX = 7
"""Position of the region, fixed by the real network's readers."""

_FIELD_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]+$")


@dataclass(frozen=True)
class NodeSpec:
    os: str
    node_type: str
    cpu_units: int
    memory_gb: int
    storage_gb: int
    gpu_model: str
    gpu_units: int
    region: str
    bandwidth: str
    arch: str
    client_version: str


def build_spec(spec: NodeSpec) -> str:
    """Return the comma-separated spec string.

    Raises:
        ValueError: a field is empty, negative, or contains characters that would break the
            comma-separated layout (the message names the field).
    """
    values: list[str] = []
    for item in fields(spec):
        value = getattr(spec, item.name)
        if isinstance(value, int) and value < 0:
            raise ValueError(f"spec field {item.name} must not be negative, got {value}")
        text = str(value)
        if not _FIELD_PATTERN.match(text):
            raise ValueError(
                f"spec field {item.name} must be letters, digits, '.', '_' or '-', got {text!r}"
            )
        values.append(text)
    return ",".join(values)


def parse_spec(text: str) -> dict[str, str]:
    """Return the spec's fields by name; missing trailing fields are left out."""
    names = [item.name for item in fields(NodeSpec)]
    return {name: value for name, value in zip(names, text.split(","), strict=False)}


_NAME_NOISE = (
    "nvidia", "geforce", "tesla", "quadro", "graphics", "pcie", "sxm2", "sxm4", "sxm", "nvl",
    "hbm2", "hbm2e", "hbm3", "hbm3e", "laptop", "gpu",
)  # fmt: skip


def gpu_short_name(nvml_name: str) -> str:
    """Turn an NVML GPU name into the network's short model name.

    ``NVIDIA GeForce RTX 4090`` -> ``rtx4090``; ``NVIDIA RTX A4000`` -> ``rtxa4000``;
    ``NVIDIA GeForce RTX 4070 Ti SUPER`` -> ``rtx4070tisuper``; ``Tesla T4`` -> ``t4``;
    ``NVIDIA RTX 4000 Ada Generation`` -> ``rtx4000-ada``.
    """
    words = re.split(r"[\s\-_/]+", nvml_name.lower())
    words = [w for w in words if w and w not in _NAME_NOISE and not re.fullmatch(r"\d+gb", w)]
    ada = "ada" in words
    words = [w for w in words if w not in ("ada", "generation")]
    name = "".join(words)
    return f"{name}-ada" if ada else name
