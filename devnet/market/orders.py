"""What an order asks for, and what a node asks for it: the devnet's order ``spec`` and pricing.

The real network puts a compressed order spec in ``OrderCreated.specs`` (the SDK's
``compressOrderSpec``: short keys, spheron-network.md §6.1). The devnet's is the resource part
of it as compact JSON::

    {"n": "web", "r": {"c": 500, "m": 67108864, "s": 16777216, "g": 0}}

``n`` the service name; ``r`` the resources of its one replica: ``c`` CPU millicores, ``m``
memory bytes, ``s`` storage bytes, ``g`` GPU units. :func:`order_spec` writes it from a
ServiceManifest and :func:`parse_order_spec` reads it back; :func:`node_ask` prices it the way
the node itself does (``fizz_app.core.online.ask_per_block``), so a bid at that price is one
the node accepts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from gateway_client.messages import Capacity, Prices

__all__ = [
    "GB",
    "OrderResources",
    "OrderSpecError",
    "fits",
    "node_ask",
    "order_spec",
    "parse_order_spec",
]

GB = 1000**3
"""The node prices memory and storage per GB (10**9 bytes)."""
MAX_SPEC_BYTES = 4096
"""Longer specs are not ours: the bidding agent skips them rather than parse them."""


class OrderSpecError(ValueError):
    """The spec is not a devnet order spec (the message says what is wrong)."""


@dataclass(frozen=True)
class OrderResources:
    """One replica's resources, as an order asks for them."""

    name: str
    cpu_millicores: int
    memory_bytes: int
    storage_bytes: int
    gpu_units: int = 0

    def to_spec(self) -> str:
        """The order's ``spec`` string (compact JSON, see the module docstring)."""
        resources = {
            "c": self.cpu_millicores,
            "m": self.memory_bytes,
            "s": self.storage_bytes,
            "g": self.gpu_units,
        }
        return json.dumps({"n": self.name, "r": resources}, separators=(",", ":"))


def _whole(value: object, what: str) -> int:
    if isinstance(value, bool):
        raise OrderSpecError(f"{what} must be a whole number, not {value!r}")
    if isinstance(value, str):
        text = value
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise OrderSpecError(f"{what} {text[:40]!r} is not a number") from None
    if isinstance(value, Decimal):
        # Range first: int() of "1e999999999" builds a billion-digit number (the gateway's loop
        # would hang on one tenant's order), of "Infinity" or "NaN" none at all.
        if value.is_finite() and 0 <= value < 2**63 and value == value.to_integral_value():
            return int(value)
    elif isinstance(value, int) and 0 <= value < 2**63:
        return value
    raise OrderSpecError(f"{what} must be a whole number from 0, not {value!r}")


def order_spec(service: Mapping[str, Any]) -> OrderResources:
    """The resources a ServiceManifest asks for (``resources.cpu.units.val`` millicores,
    ``memory.size.val`` bytes, the ``storage`` entries' ``size.val`` bytes summed,
    ``gpu.units.val``).

    Raises:
        OrderSpecError: a missing or malformed resource.
    """
    resources = service.get("resources")
    if not isinstance(resources, Mapping):
        raise OrderSpecError("the service has no resources object")
    try:
        cpu = _whole(resources["cpu"]["units"]["val"], "cpu.units.val")
        memory = _whole(resources["memory"]["size"]["val"], "memory.size.val")
        storage = sum(
            _whole(entry["size"]["val"], "storage size.val") for entry in resources["storage"]
        )
        gpu_part = resources.get("gpu")
        gpu = _whole(gpu_part["units"]["val"], "gpu.units.val") if gpu_part else 0
    except (KeyError, TypeError) as error:
        raise OrderSpecError(f"the service's resources lack {error}") from None
    return OrderResources(str(service.get("name") or "service"), cpu, memory, storage, gpu)


def parse_order_spec(spec: str) -> OrderResources:
    """Read a spec written by :meth:`OrderResources.to_spec`.

    Raises:
        OrderSpecError: not JSON of that shape (another client's spec, or garbage).
    """
    if len(spec) > MAX_SPEC_BYTES:
        raise OrderSpecError(f"the spec is {len(spec)} characters long; at most {MAX_SPEC_BYTES}")
    try:
        data = json.loads(spec)
        resources = data["r"]
        return OrderResources(
            name=str(data.get("n") or "service")[:128],
            cpu_millicores=_whole(resources["c"], "c"),
            memory_bytes=_whole(resources["m"], "m"),
            storage_bytes=_whole(resources["s"], "s"),
            gpu_units=_whole(resources.get("g", 0), "g"),
        )
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        if isinstance(error, OrderSpecError):
            raise
        raise OrderSpecError(f"not a devnet order spec: {error!r}") from None


def node_ask(prices: Prices, wanted: OrderResources) -> int | None:
    """What the node asks for ``wanted``, in whole token base units per block (rounded up, at
    least 1): its announced per-block price of each resource times the units asked, as the
    node computes it. ``None`` when the node announced no per-block prices."""
    per_block = prices.per_block
    if not per_block:
        return None
    asked = {
        "cpu": Decimal(wanted.cpu_millicores) / 1000,
        "memory": Decimal(wanted.memory_bytes) / GB,
        "storage": Decimal(wanted.storage_bytes) / GB,
        "gpu": Decimal(wanted.gpu_units),
    }
    total = sum(
        (Decimal(per_block.get(name, "0")) * units for name, units in asked.items()), Decimal(0)
    )
    return max(1, math.ceil(total))


def fits(capacity: Capacity, wanted: OrderResources) -> bool:
    """True when the node's free capacity (``available``) holds ``wanted``."""
    free = capacity.available
    return (
        wanted.cpu_millicores <= free.cpu
        and wanted.memory_bytes <= free.memory
        and wanted.storage_bytes <= free.storage_ephemeral
        and wanted.gpu_units <= free.gpu
    )
