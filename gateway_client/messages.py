"""Control messages of ``fizz-tunnel.v1``: schemas, strict decoding, encoding, login text.

A control message is one WebSocket TEXT message holding one JSON object whose ``type`` names
the schema (``PROTOCOL.md`` §3). :func:`decode_message` validates the whole object and returns a
frozen dataclass, or raises :class:`~gateway_client.exceptions.ProtocolError` and nothing else.
:func:`encode_message` turns a dataclass back into text and refuses to produce anything
:func:`decode_message` would reject, so a bug on our side surfaces here, not at the peer.

Unknown *fields* are ignored (a newer peer may add optional ones); an unknown *type* is a
protocol error. Money is always a decimal string, never a float.

Stdlib only, pure.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Self, TypeVar

from .exceptions import CloseCode, ProtocolError

__all__ = [
    "SUBPROTOCOL",
    "PROTOCOL_VERSION",
    "SUPPORTED_VERSIONS",
    "MAX_CONTROL_BYTES",
    "LEASE_RUNNING",
    "Side",
    "LeaseAction",
    "Message",
    "Hello",
    "ClientInfo",
    "LeaseAnnouncement",
    "Login",
    "LeaseDecision",
    "Welcome",
    "Heartbeat",
    "HeartbeatAck",
    "GpuInfo",
    "Resources",
    "Capacity",
    "Prices",
    "LeaseOffer",
    "LeaseAccept",
    "LeaseReject",
    "Manifest",
    "LeaseStatus",
    "LeaseLogs",
    "LogsRequest",
    "LeaseClose",
    "Usage",
    "Earnings",
    "SpeedtestRequest",
    "SpeedtestResult",
    "ErrorNotice",
    "MESSAGE_TYPES",
    "decode_message",
    "encode_message",
    "login_message",
    "is_lease_id",
]

SUBPROTOCOL = "fizz-tunnel.v1"
"""The WebSocket subprotocol (``Sec-WebSocket-Protocol``) both ends must agree on."""

PROTOCOL_VERSION = 1
"""The protocol version this package speaks best; ``login.version`` carries the chosen one."""

SUPPORTED_VERSIONS: tuple[int, ...] = (1,)
"""Every version this package can speak, offered in ``hello`` and checked in ``login``."""

MAX_CONTROL_BYTES = 64 * 1024
"""Largest control message, in UTF-8 bytes; a bigger one closes the session with TOO_LARGE.
Split long log tails over several ``lease_logs`` messages."""

LEASE_RUNNING = "running"
"""The lease state whose ports the node exposes to ``OPEN`` (``PROTOCOL.md`` §6)."""

_LEASE_ID = re.compile(r"[0-9A-Za-z._:-]{1,128}")
_NONCE = re.compile(r"[0-9a-f]{64}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_SIGNATURE = re.compile(r"0x[0-9a-fA-F]{130}")
_DECIMAL = re.compile(r"[0-9]{1,78}(\.[0-9]{1,78})?")
# "<down>;<up>" in Mbit/s; either side is "NA" until measured (the real network's word for it).
_BANDWIDTH = re.compile(r"(NA|[0-9]{1,12}(\.[0-9]{1,6})?);(NA|[0-9]{1,12}(\.[0-9]{1,6})?)")
_TOKEN = re.compile(r"[a-z][a-z0-9_]{0,31}")
_MAX_TEXT = 1024
_MAX_INT = 2**63 - 1
_MAX_U32 = 2**32 - 1


class Side(enum.IntEnum):
    """Which end of the tunnel a protocol object (or a message's sender) is."""

    NODE, GATEWAY = range(2)


class LeaseAction(enum.StrEnum):
    """The gateway's verdict, in ``welcome``, on a lease the node announced in ``login``."""

    KEEP = "keep"
    """Keep running it and keep its ports exposed."""
    CLOSE = "close"
    """Stop it: the gateway no longer counts it (it failed it while the node was away)."""


def is_lease_id(value: str) -> bool:
    """True if ``value`` is a valid lease id: 1..128 of ``[0-9A-Za-z._:-]``."""
    return _LEASE_ID.fullmatch(value) is not None


# ---- Field validation ---------------------------------------------------------------------------


def _malformed(where: str, expected: str) -> ProtocolError:
    return ProtocolError(CloseCode.MALFORMED, f"{where}: expected {expected}")


def _int(value: object, where: str, minimum: int = 0, maximum: int = _MAX_INT) -> int:
    # bool is an int subclass in Python, but true/false is never a number on the wire.
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise _malformed(where, f"an integer in {minimum}..{maximum}")
    return value


def _float(value: object, where: str, minimum: float = 0.0, maximum: float = 1e18) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _malformed(where, "a number")
    try:
        result = float(value)
    except OverflowError:  # an integer literal with hundreds of digits
        raise _malformed(where, "a number in range") from None
    if not (math.isfinite(result) and minimum <= result <= maximum):
        raise _malformed(where, f"a number in {minimum}..{maximum}")
    return result


def _str(
    value: object,
    where: str,
    pattern: re.Pattern[str] | None = None,
    max_len: int = _MAX_TEXT,
) -> str:
    if not isinstance(value, str) or len(value) > max_len:
        raise _malformed(where, f"a string of at most {max_len} characters")
    if pattern is not None and pattern.fullmatch(value) is None:
        raise _malformed(where, f"a string matching {pattern.pattern}")
    try:
        # JSON escapes can smuggle lone surrogates into a str; they would crash whoever logs or
        # re-encodes the value later, so they are rejected here, at the edge.
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _malformed(where, "valid Unicode text") from None
    return value


def _list(value: object, where: str) -> list[object]:
    if not isinstance(value, list):
        raise _malformed(where, "an array")
    return value


def _obj(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _malformed(where, "an object")
    return value


T = TypeVar("T")


def _items(value: object, where: str, parse: Callable[[object, str], T]) -> tuple[T, ...]:
    return tuple(parse(item, f"{where}[{i}]") for i, item in enumerate(_list(value, where)))


def _unique_leases(lease_ids: Iterable[str], where: str) -> None:
    seen: set[str] = set()
    for lease_id in lease_ids:
        if lease_id in seen:
            raise _malformed(where, f"each lease once, but {lease_id} repeats")
        seen.add(lease_id)


def _port(value: object, where: str) -> int:
    return _int(value, where, 1, 0xFFFF)


def _lease_id(value: object, where: str) -> str:
    return _str(value, where, _LEASE_ID)


def _decimal(value: object, where: str) -> str:
    return _str(value, where, _DECIMAL)


class _Fields:
    """One JSON object's fields, read with the validators above; ``where`` prefixes errors."""

    def __init__(self, value: object, where: str) -> None:
        self.obj = _obj(value, where)
        self.where = where

    def at(self, key: str) -> str:
        return f"{self.where}.{key}"

    def get(self, key: str) -> object:
        if key not in self.obj:
            raise _malformed(self.at(key), "a value (the field is required)")
        return self.obj[key]

    def opt(self, key: str) -> object:
        """The field's value, or None when it is absent or null (both mean "not given")."""
        return self.obj.get(key)

    def integer(self, key: str, minimum: int = 0, maximum: int = _MAX_INT) -> int:
        return _int(self.get(key), self.at(key), minimum, maximum)

    def number(self, key: str, minimum: float = 0.0, maximum: float = 1e18) -> float:
        return _float(self.get(key), self.at(key), minimum, maximum)

    def text(
        self, key: str, pattern: re.Pattern[str] | None = None, max_len: int = _MAX_TEXT
    ) -> str:
        return _str(self.get(key), self.at(key), pattern, max_len)

    def opt_text(
        self, key: str, pattern: re.Pattern[str] | None = None, max_len: int = _MAX_TEXT
    ) -> str | None:
        value = self.opt(key)
        return None if value is None else _str(value, self.at(key), pattern, max_len)

    def lease_id(self) -> str:
        return _lease_id(self.get("lease_id"), self.at("lease_id"))

    def items(self, key: str, parse: Callable[[object, str], T]) -> tuple[T, ...]:
        return _items(self.get(key), self.at(key), parse)


def _jsonable(value: object) -> object:
    if isinstance(value, _Record):
        return value.to_obj()
    if isinstance(value, tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, enum.Enum):
        return value.value
    return value


# ---- Records and messages -----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _Record:
    """A JSON object with a fixed schema: parse with :meth:`parse`, serialise with to_obj."""

    _wire_names: ClassVar[dict[str, str]] = {}
    """Python field name -> JSON key, where they differ (``nbytes`` -> ``bytes``)."""

    @classmethod
    def parse(cls, value: object, where: str) -> Self:
        """Validate ``value`` (decoded JSON) and build the record; raises ProtocolError."""
        return cls._from_fields(_Fields(value, where))

    @classmethod
    def _from_fields(cls, f: _Fields) -> Self:
        raise NotImplementedError  # pragma: no cover - every concrete record overrides it

    def to_obj(self) -> dict[str, Any]:
        """Return the record as a JSON-ready dict."""
        return {
            self._wire_names.get(field.name, field.name): _jsonable(getattr(self, field.name))
            for field in dataclasses.fields(self)
        }


@dataclass(frozen=True, kw_only=True)
class Message(_Record):
    """Base of every control message. ``type`` is the JSON ``type``; ``senders`` says which
    side may send it (anything else is UNEXPECTED_MESSAGE)."""

    type: ClassVar[str] = ""
    senders: ClassVar[frozenset[Side]] = frozenset()

    def to_obj(self) -> dict[str, Any]:
        """Return the message as a JSON-ready dict, ``type`` first."""
        return {"type": self.type, **super().to_obj()}


MESSAGE_TYPES: dict[str, type[Message]] = {}
"""JSON ``type`` -> message class, for every type of this protocol version."""

M = TypeVar("M", bound=type[Message])

_FROM_NODE = frozenset({Side.NODE})
_FROM_GATEWAY = frozenset({Side.GATEWAY})
_FROM_EITHER = frozenset({Side.NODE, Side.GATEWAY})


def _message(cls: M) -> M:
    MESSAGE_TYPES[cls.type] = cls
    return cls


@_message
@dataclass(frozen=True, kw_only=True)
class Hello(Message):
    """Gateway → node, first message: the challenge to sign and the versions on offer."""

    type: ClassVar[str] = "hello"
    senders: ClassVar[frozenset[Side]] = _FROM_GATEWAY
    versions: tuple[int, ...]
    gateway_id: int
    nonce: str
    """64 lowercase hex digits, fresh per connection."""
    server_time: float
    """The gateway's Unix time; the node dates its login from it, not from its own clock."""

    @classmethod
    def _from_fields(cls, f: _Fields) -> Self:
        versions = f.items("versions", lambda v, w: _int(v, w, 1, 0xFFFF))
        if not 1 <= len(versions) <= 16:
            raise _malformed(f.at("versions"), "1..16 versions")
        return cls(
            versions=versions,
            gateway_id=f.integer("gateway_id"),
            nonce=f.text("nonce", _NONCE),
            server_time=f.number("server_time"),
        )


@dataclass(frozen=True, kw_only=True)
class ClientInfo(_Record):
    """The node software, for the gateway's logs and dashboards."""

    name: str
    version: str
    instance_id: str | None = None
    """Optional random id of this installation: a gateway that sees a login from the same
    instance while the old session lingers replaces the old session instead of refusing the
    new one with ALREADY_CONNECTED (``PROTOCOL.md`` §5.3)."""

    @classmethod
    def _from_fields(cls, f: _Fields) -> Self:
        return cls(
            name=f.text("name", max_len=64),
            version=f.text("version", max_len=64),
            instance_id=f.opt_text("instance_id", max_len=64),
        )


@dataclass(frozen=True, kw_only=True)
class LeaseAnnouncement(_Record):
    """A lease the node is running as it logs in (resumption, ``PROTOCOL.md`` §6)."""

    lease_id: str
    ports: tuple[int, ...] = ()
    state: str = LEASE_RUNNING

    @classmethod
    def _from_fields(cls, f: _Fields) -> Self:
        return cls(
            lease_id=f.lease_id(), ports=f.items("ports", _port), state=f.text("state", _TOKEN)
        )


@_message
@dataclass(frozen=True, kw_only=True)
class Login(Message):
    """Node → gateway: who the node is, proof (signature), and the leases it still runs."""

    type: ClassVar[str] = "login"
    senders: ClassVar[frozenset[Side]] = _FROM_NODE
    version: int
    address: str
    gateway_id: int
    nonce: str
    timestamp: int
    signature: str
    """EIP-191 ``personal_sign`` of :func:`login_message`, ``0x`` + 130 hex digits."""
    client: ClientInfo
    leases: tuple[LeaseAnnouncement, ...] = ()

    @classmethod
    def _from_fields(cls, f: _Fields) -> Self:
        leases = f.items("leases", LeaseAnnouncement.parse)
        _unique_leases((lease.lease_id for lease in leases), f.at("leases"))
        return cls(
            version=f.integer("version", 1, 0xFFFF),
            address=f.text("address", _ADDRESS),
            gateway_id=f.integer("gateway_id"),
            nonce=f.text("nonce", _NONCE),
            timestamp=f.integer("timestamp"),
            signature=f.text("signature", _SIGNATURE),
            client=ClientInfo.parse(f.get("client"), f.at("client")),
            leases=leases,
        )

    def text(self) -> str:
        """The exact text the signature covers (see :func:`login_message`)."""
        return login_message(
            self.gateway_id, self.address, self.nonce, self.timestamp, self.version
        )


@dataclass(frozen=True, kw_only=True)
class LeaseDecision(_Record):
    """One line of the gateway's reconciliation in ``welcome``."""

    lease_id: str
    action: LeaseAction

    @classmethod
    def _from_fields(cls, f: _Fields) -> Self:
        action = f.get("action")
        if action not in ("keep", "close"):
            raise _malformed(f.at("action"), '"keep" or "close"')
        return cls(lease_id=f.lease_id(), action=LeaseAction(action))


@_message
@dataclass(frozen=True, kw_only=True)
class Welcome(Message):
    """Gateway → node: login accepted; the session is open.

    ``leases`` answers every announced lease exactly once (keep or close).
    """

    type: ClassVar[str] = "welcome"
    senders: ClassVar[frozenset[Side]] = _FROM_GATEWAY
    session_id: str
    heartbeat_interval: float
    heartbeat_timeout: float
    fizz_id: int
    leases: tuple[LeaseDecision, ...] = ()

    @classmethod
    def _from_fields(cls, f: _Fields) -> Self:
        interval = f.number("heartbeat_interval", 0.05, 3600.0)
        timeout = f.number("heartbeat_timeout", 0.05, 3600.0)
        if timeout < interval:
            raise _malformed(f.at("heartbeat_timeout"), "a timeout no shorter than the interval")
        leases = f.items("leases", LeaseDecision.parse)
        _unique_leases((lease.lease_id for lease in leases), f.at("leases"))
        return cls(
            session_id=f.text("session_id", max_len=128),
            heartbeat_interval=interval,
            heartbeat_timeout=timeout,
            fizz_id=f.integer("fizz_id"),
            leases=leases,
        )


@_message
@dataclass(frozen=True, kw_only=True)
class Heartbeat(Message):
    """Node → gateway every ``heartbeat_interval``; the protocol sends it from ``tick``."""

    type: ClassVar[str] = "heartbeat"
    senders: ClassVar[frozenset[Side]] = _FROM_NODE
    seq: int

    @classmethod
    def _from_fields(cls, f: _Fields) -> Self:
        return cls(seq=f.integer("seq"))


@_message
@dataclass(frozen=True, kw_only=True)
class HeartbeatAck(Message):
    """Gateway → node, echoing a heartbeat's ``seq`` (the "health check ack")."""

    type: ClassVar[str] = "heartbeat_ack"
    senders: ClassVar[frozenset[Side]] = _FROM_GATEWAY
    seq: int

    @classmethod
    def _from_fields(cls, f: _Fields) -> Self:
        return cls(seq=f.integer("seq"))


@dataclass(frozen=True, kw_only=True)
class GpuInfo(_Record):
    """One GPU, as the real network's status report lists it."""

    vendor: str
    name: str
    model_id: str
    interface: str
    memory_size: str
    """Human size as the real network writes it, e.g. ``"11.72Gi"``."""
    vram_available_percentage: float

    @classmethod
    def _from_fields(cls, f: _Fields) -> Self:
        return cls(
            vendor=f.text("vendor", max_len=64),
            name=f.text("name", max_len=128),
            model_id=f.text("model_id", max_len=64),
            interface=f.text("interface", max_len=64),
            memory_size=f.text("memory_size", max_len=32),
            vram_available_percentage=f.number("vram_available_percentage", 0.0, 100.0),
        )


@dataclass(frozen=True, kw_only=True)
class Resources(_Record):
    """CPU in millicores, memory and storage in bytes, GPUs as a count plus details."""

    cpu: int
    memory: int
    storage_ephemeral: int
    gpu: int = 0
    gpu_infos: tuple[GpuInfo, ...] = ()

    @classmethod
    def _from_fields(cls, f: _Fields) -> Self:
        # The real network sends "gpu_infos": null for "available"; null reads as no details.
        infos = f.opt("gpu_infos")
        return cls(
            cpu=f.integer("cpu"),
            memory=f.integer("memory"),
            storage_ephemeral=f.integer("storage_ephemeral"),
            gpu=f.integer("gpu"),
            gpu_infos=() if infos is None else _items(infos, f.at("gpu_infos"), GpuInfo.parse),
        )


@_message
@dataclass(frozen=True, kw_only=True)
class Capacity(Message):
    """Node → gateway: what the node offers and what is free (FizzStatusResponse's shape)."""

    type: ClassVar[str] = "capacity"
    senders: ClassVar[frozenset[Side]] = _FROM_NODE
    allocatable: Resources
    available: Resources
    bandwidth: str
    """``"<down>;<up>"`` in Mbit/s."""
    version: str
    os: str
    arch: str
    cuda_version: str = ""
    nvidia_driver_version: str = ""

    @classmethod
    def _from_fields(cls, f: _Fields) -> Self:
        return cls(
            allocatable=Resources.parse(f.get("allocatable"), f.at("allocatable")),
            available=Resources.parse(f.get("available"), f.at("available")),
            bandwidth=f.text("bandwidth", _BANDWIDTH),
            version=f.text("version", max_len=64),
            os=f.text("os", max_len=64),
            arch=f.text("arch", max_len=32),
            cuda_version=f.text("cuda_version", max_len=32),
            nvidia_driver_version=f.text("nvidia_driver_version", max_len=32),
        )


@_message
@dataclass(frozen=True, kw_only=True)
class Prices(Message):
    """Node → gateway: the node's asking prices, as decimal strings (never floats)."""

    type: ClassVar[str] = "prices"
    senders: ClassVar[frozenset[Side]] = _FROM_NODE
    token: str
    cpu_per_thread_month_usd: str
    memory_per_gb_month_usd: str
    storage_per_gb_month_usd: str
    gpu_per_unit_month_usd: str | None = None
    per_block: dict[str, str] | None = None
    """Optional per-block prices in token base units, resource name -> decimal string."""

    @classmethod
    def _from_fields(cls, f: _Fields) -> Self:
        raw_per_block = f.opt("per_block")
        per_block: dict[str, str] | None = None
        if raw_per_block is not None:
            where = f.at("per_block")
            per_block = {
                _str(key, where, _TOKEN): _decimal(value, f"{where}.{key}")
                for key, value in _obj(raw_per_block, where).items()
            }
        return cls(
            token=f.text("token", max_len=32),
            cpu_per_thread_month_usd=f.text("cpu_per_thread_month_usd", _DECIMAL),
            memory_per_gb_month_usd=f.text("memory_per_gb_month_usd", _DECIMAL),
            storage_per_gb_month_usd=f.text("storage_per_gb_month_usd", _DECIMAL),
            gpu_per_unit_month_usd=f.opt_text("gpu_per_unit_month_usd", _DECIMAL),
            per_block=per_block,
        )


@_message
@dataclass(frozen=True, kw_only=True)
class LeaseOffer(Message):
    """Gateway → node: a lease matched this node; answer ``lease_accept`` or ``lease_reject``."""

    type: ClassVar[str] = "lease_offer"
    senders: ClassVar[frozenset[Side]] = _FROM_GATEWAY
    lease_id: str
    order_id: int
    price_per_block: str
    resources: dict[str, Any]
    """The order's resource request, passed through as JSON."""

    @classmethod
    def _from_fields(cls, f: _Fields) -> Self:
        return cls(
            lease_id=f.lease_id(),
            order_id=f.integer("order_id"),
            price_per_block=f.text("price_per_block", _DECIMAL),
            resources=_obj(f.get("resources"), f.at("resources")),
        )


@_message
@dataclass(frozen=True, kw_only=True)
class LeaseAccept(Message):
    """Node → gateway: the node takes the offered lease and waits for its ``manifest``."""

    type: ClassVar[str] = "lease_accept"
    senders: ClassVar[frozenset[Side]] = _FROM_NODE
    lease_id: str

    @classmethod
    def _from_fields(cls, f: _Fields) -> Self:
        return cls(lease_id=f.lease_id())


@_message
@dataclass(frozen=True, kw_only=True)
class LeaseReject(Message):
    """Node → gateway: the node declines the offered lease."""

    type: ClassVar[str] = "lease_reject"
    senders: ClassVar[frozenset[Side]] = _FROM_NODE
    lease_id: str
    reason: str

    @classmethod
    def _from_fields(cls, f: _Fields) -> Self:
        return cls(lease_id=f.lease_id(), reason=f.text("reason"))


@_message
@dataclass(frozen=True, kw_only=True)
class Manifest(Message):
    """Gateway → node: what to run for a lease (the real ServiceManifest list, as JSON)."""

    type: ClassVar[str] = "manifest"
    senders: ClassVar[frozenset[Side]] = _FROM_GATEWAY
    lease_id: str
    services: tuple[dict[str, Any], ...]

    @classmethod
    def _from_fields(cls, f: _Fields) -> Self:
        return cls(lease_id=f.lease_id(), services=f.items("services", _obj))


@_message
@dataclass(frozen=True, kw_only=True)
class LeaseStatus(Message):
    """Node → gateway: a lease's state. With state ``running``, ``ports`` are the local ports
    the node now exposes for it (and only these accept ``OPEN``)."""

    type: ClassVar[str] = "lease_status"
    senders: ClassVar[frozenset[Side]] = _FROM_NODE
    lease_id: str
    state: str
    """One of ``pending``, ``running``, ``failed``, ``closed`` (newer peers may add more)."""
    ports: tuple[int, ...] = ()
    reason: str | None = None

    @classmethod
    def _from_fields(cls, f: _Fields) -> Self:
        ports = f.opt("ports")  # optional: a failed or closed lease exposes none
        return cls(
            lease_id=f.lease_id(),
            state=f.text("state", _TOKEN),
            ports=() if ports is None else _items(ports, f.at("ports"), _port),
            reason=f.opt_text("reason"),
        )


@_message
@dataclass(frozen=True, kw_only=True)
class LeaseLogs(Message):
    """Node → gateway: log lines of a lease (answer to ``logs_request``)."""

    type: ClassVar[str] = "lease_logs"
    senders: ClassVar[frozenset[Side]] = _FROM_NODE
    lease_id: str
    lines: tuple[str, ...]

    @classmethod
    def _from_fields(cls, f: _Fields) -> Self:
        return cls(
            lease_id=f.lease_id(), lines=f.items("lines", lambda v, w: _str(v, w, None, 16384))
        )


@_message
@dataclass(frozen=True, kw_only=True)
class LogsRequest(Message):
    """Gateway → node: send the last ``tail`` log lines of a lease as ``lease_logs``."""

    type: ClassVar[str] = "logs_request"
    senders: ClassVar[frozenset[Side]] = _FROM_GATEWAY
    lease_id: str
    tail: int

    @classmethod
    def _from_fields(cls, f: _Fields) -> Self:
        return cls(lease_id=f.lease_id(), tail=f.integer("tail", 0, 100_000))


@_message
@dataclass(frozen=True, kw_only=True)
class LeaseClose(Message):
    """Either way: the lease is over. Both ends drop its streams (``LEASE_CLOSED``)."""

    type: ClassVar[str] = "lease_close"
    senders: ClassVar[frozenset[Side]] = _FROM_EITHER
    lease_id: str
    reason: str

    @classmethod
    def _from_fields(cls, f: _Fields) -> Self:
        return cls(lease_id=f.lease_id(), reason=f.text("reason"))


@_message
@dataclass(frozen=True, kw_only=True)
class Usage(Message):
    """Node → gateway: cumulative resource use of a lease up to ``at`` (Unix time)."""

    type: ClassVar[str] = "usage"
    senders: ClassVar[frozenset[Side]] = _FROM_NODE
    lease_id: str
    cpu_seconds: float
    memory_peak_bytes: int
    bytes_in: int
    bytes_out: int
    at: float

    @classmethod
    def _from_fields(cls, f: _Fields) -> Self:
        return cls(
            lease_id=f.lease_id(),
            cpu_seconds=f.number("cpu_seconds"),
            memory_peak_bytes=f.integer("memory_peak_bytes"),
            bytes_in=f.integer("bytes_in"),
            bytes_out=f.integer("bytes_out"),
            at=f.number("at"),
        )


@_message
@dataclass(frozen=True, kw_only=True)
class Earnings(Message):
    """Gateway → node: the node earned ``amount`` (decimal string) of ``token`` for a lease."""

    type: ClassVar[str] = "earnings"
    senders: ClassVar[frozenset[Side]] = _FROM_GATEWAY
    lease_id: str
    amount: str
    token: str

    @classmethod
    def _from_fields(cls, f: _Fields) -> Self:
        return cls(
            lease_id=f.lease_id(),
            amount=f.text("amount", _DECIMAL),
            token=f.text("token", max_len=32),
        )


@_message
@dataclass(frozen=True, kw_only=True)
class SpeedtestRequest(Message):
    """Node → gateway: ask for a bandwidth measurement of ``nbytes`` (JSON key ``bytes``)."""

    type: ClassVar[str] = "speedtest_request"
    senders: ClassVar[frozenset[Side]] = _FROM_NODE
    _wire_names: ClassVar[dict[str, str]] = {"nbytes": "bytes"}
    direction: str
    """``"down"`` or ``"up"``."""
    nbytes: int

    @classmethod
    def _from_fields(cls, f: _Fields) -> Self:
        direction = f.get("direction")
        if direction not in ("down", "up"):
            raise _malformed(f.at("direction"), '"down" or "up"')
        return cls(direction=str(direction), nbytes=f.integer("bytes", 1, _MAX_U32))


@_message
@dataclass(frozen=True, kw_only=True)
class SpeedtestResult(Message):
    """Gateway → node: measured Mbit/s and the bandwidth bucket (``"100mbps"``, ``"NA"``)."""

    type: ClassVar[str] = "speedtest_result"
    senders: ClassVar[frozenset[Side]] = _FROM_GATEWAY
    _wire_names: ClassVar[dict[str, str]] = {"nbytes": "bytes"}
    down_mbps: float
    """The session's latest measured download, 0 if not measured yet."""
    up_mbps: float
    """The session's latest measured upload, 0 if not measured yet."""
    bucket: str
    """The bucket of down + up once both were measured in this session, else ``"NA"``."""
    direction: str | None = None
    """Optional: the direction this result answers (§14)."""
    nbytes: int | None = None
    """Optional (JSON ``bytes``): test bytes the gateway moved or received."""
    seconds: float | None = None
    """Optional: the gateway's time for them."""

    @classmethod
    def _from_fields(cls, f: _Fields) -> Self:
        direction = f.opt("direction")
        if direction not in (None, "down", "up"):
            raise _malformed(f.at("direction"), '"down" or "up"')
        nbytes, seconds = f.opt("bytes"), f.opt("seconds")
        return cls(
            down_mbps=f.number("down_mbps"),
            up_mbps=f.number("up_mbps"),
            bucket=f.text("bucket", max_len=16),
            direction=None if direction is None else str(direction),
            nbytes=None if nbytes is None else _int(nbytes, f.at("bytes"), 1, _MAX_U32),
            seconds=None if seconds is None else _float(seconds, f.at("seconds")),
        )


@_message
@dataclass(frozen=True, kw_only=True)
class ErrorNotice(Message):
    """Either way: a non-fatal notice (``type`` ``"error"``); the session carries on."""

    type: ClassVar[str] = "error"
    senders: ClassVar[frozenset[Side]] = _FROM_EITHER
    code: int
    message: str

    @classmethod
    def _from_fields(cls, f: _Fields) -> Self:
        return cls(code=f.integer("code", 0, 0xFFFF), message=f.text("message"))


# ---- Encoding and decoding ----------------------------------------------------------------------


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses to inf, which no field may hold
        raise ValueError(f"{text} is out of range")
    return value


def decode_message(text: str) -> Message:
    """Parse and validate one control message.

    Args:
        text: the TEXT message as received.

    Returns:
        The message dataclass; check ``type(message).senders`` against the sender's side.

    Raises:
        ProtocolError: the only exception, whatever ``text`` holds: TOO_LARGE over
            :data:`MAX_CONTROL_BYTES`, MALFORMED for bad JSON, an unknown ``type`` or a field
            that breaks its schema. Close the session with its ``code``.
    """
    # len() in characters is a lower bound of the UTF-8 size, so huge inputs are refused
    # before paying for an encode.
    if len(text) > MAX_CONTROL_BYTES or (
        len(text.encode("utf-8", errors="surrogatepass")) > MAX_CONTROL_BYTES
    ):
        raise ProtocolError(CloseCode.TOO_LARGE, f"control message over {MAX_CONTROL_BYTES} bytes")
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise ProtocolError(CloseCode.MALFORMED, f"not JSON: {exc}") from None
    fields = _Fields(value, "message")
    kind = fields.opt("type")
    if not isinstance(kind, str) or kind not in MESSAGE_TYPES:
        raise ProtocolError(CloseCode.MALFORMED, f"unknown message type {str(kind)[:40]!r}")
    return MESSAGE_TYPES[kind].parse(fields.obj, kind)


def encode_message(message: Message) -> str:
    """Serialise ``message`` to the TEXT to send.

    Raises:
        ValueError: the message breaks its own schema (a bug in the caller) or is over
            :data:`MAX_CONTROL_BYTES` (split it, e.g. fewer log lines per ``lease_logs``).
    """
    try:
        text = json.dumps(
            message.to_obj(), ensure_ascii=False, allow_nan=False, separators=(",", ":")
        )
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate inside pass-through JSON (a manifest) cannot travel as raw UTF-8;
        # ASCII escapes carry it unchanged.
        text = json.dumps(message.to_obj(), allow_nan=False, separators=(",", ":"))
    try:
        decoded = decode_message(text)
    except ProtocolError as exc:
        raise ValueError(f"refusing to send an invalid {message.type!r}: {exc.reason}") from None
    # Decoding normalises (ints to floats, lists to tuples); a mismatch means a field held a
    # value of the wrong type that only looked right once serialised.
    if decoded != message:
        raise ValueError(f"refusing to send {message.type!r}: a field has the wrong type")
    return text


def login_message(
    gateway_id: int, address: str, nonce: str, timestamp: int, version: int = PROTOCOL_VERSION
) -> str:
    """The text a node signs (EIP-191 ``personal_sign``) to log in, and the gateway verifies.

    Args:
        gateway_id: from ``hello``.
        address: the node's wallet address exactly as sent in ``login`` (checksummed or
            lowercase; the gateway compares the recovered address case-insensitively).
        nonce: from ``hello``.
        timestamp: Unix seconds, as sent in ``login``.
        version: the protocol version chosen, bound into the text so a signature cannot be
            replayed against another version.

    Raises:
        ValueError: a field would not survive the trip (bad address or nonce format).
    """
    if _ADDRESS.fullmatch(address) is None or _NONCE.fullmatch(nonce) is None:
        raise ValueError("address must be 0x + 40 hex digits and nonce 64 lowercase hex digits")
    return (
        "Fizz gateway login\n"
        f"protocol: fizz-tunnel.v{version}\n"
        f"gateway: {gateway_id}\n"
        f"node: {address}\n"
        f"nonce: {nonce}\n"
        f"timestamp: {timestamp}"
    )
