"""Tests for gateway_client.messages: every schema, strict decoding, the login text, fuzzing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_client.exceptions import CloseCode, ProtocolError
from gateway_client.messages import (
    MAX_CONTROL_BYTES,
    MESSAGE_TYPES,
    Capacity,
    ClientInfo,
    Earnings,
    ErrorNotice,
    GpuInfo,
    Heartbeat,
    HeartbeatAck,
    Hello,
    LeaseAccept,
    LeaseAction,
    LeaseAnnouncement,
    LeaseClose,
    LeaseDecision,
    LeaseLogs,
    LeaseOffer,
    LeaseReject,
    LeaseStatus,
    Login,
    LogsRequest,
    Manifest,
    Message,
    Prices,
    Resources,
    Side,
    SpeedtestRequest,
    SpeedtestResult,
    Usage,
    Welcome,
    decode_message,
    encode_message,
    is_lease_id,
    login_message,
)
from tests.gateway_client.pair import ADDRESS, NONCE, SIGNATURE, T0

GPU = GpuInfo(
    vendor="nvidia",
    name="rtx4070ti",
    model_id="2782",
    interface="PCIe",
    memory_size="11.72Gi",
    vram_available_percentage=97.5,
)

EXAMPLES: list[Message] = [
    Hello(versions=(1, 2), gateway_id=7, nonce=NONCE, server_time=T0),
    Login(
        version=1,
        address=ADDRESS,
        gateway_id=7,
        nonce=NONCE,
        timestamp=int(T0),
        signature=SIGNATURE,
        client=ClientInfo(name="fizz-node-desktop", version="0.1.0", instance_id="abc"),
        leases=(LeaseAnnouncement(lease_id="L1", ports=(8080, 8081), state="running"),),
    ),
    Welcome(
        session_id="s-1",
        heartbeat_interval=20.0,
        heartbeat_timeout=60.0,
        fizz_id=42,
        leases=(LeaseDecision(lease_id="L1", action=LeaseAction.CLOSE),),
    ),
    Heartbeat(seq=1),
    HeartbeatAck(seq=1),
    Capacity(
        allocatable=Resources(
            cpu=8000, memory=16 << 30, storage_ephemeral=500 << 30, gpu=1, gpu_infos=(GPU,)
        ),
        available=Resources(cpu=4000, memory=8 << 30, storage_ephemeral=250 << 30, gpu=1),
        bandwidth="512.5;120",
        version="0.1.0;0.1.0",
        os="linux",
        arch="amd64",
        cuda_version="12.4",
        nvidia_driver_version="550.54.14",
    ),
    Prices(
        token="USD",
        cpu_per_thread_month_usd="0.75",
        memory_per_gb_month_usd="0.10",
        storage_per_gb_month_usd="0.01",
        gpu_per_unit_month_usd="54.00",
        per_block={"cpu": "416666666666", "gpu": "30000000000000"},
    ),
    Prices(
        token="USD",
        cpu_per_thread_month_usd="0.75",
        memory_per_gb_month_usd="0.1",
        storage_per_gb_month_usd="0.01",
    ),
    LeaseOffer(
        lease_id="1234",
        order_id=99,
        price_per_block="27777777777777",
        resources={"cpu": 1000, "gpu": {"units": 1, "attributes": ["rtx4070ti"]}},
    ),
    LeaseAccept(lease_id="1234"),
    LeaseReject(lease_id="1234", reason="not enough memory"),
    Manifest(lease_id="1234", services=({"name": "web", "image": "nginx", "count": 1},)),
    LeaseStatus(lease_id="1234", state="running", ports=(30080,)),
    LeaseStatus(lease_id="1234", state="failed", reason="image pull failed"),
    LeaseLogs(lease_id="1234", lines=("starting", "listening on :80", "")),
    LogsRequest(lease_id="1234", tail=100),
    LeaseClose(lease_id="1234", reason="order closed"),
    Usage(
        lease_id="1234",
        cpu_seconds=3600.5,
        memory_peak_bytes=1 << 30,
        bytes_in=1000,
        bytes_out=2000,
        at=T0,
    ),
    Earnings(lease_id="1234", amount="0.125", token="uSPON"),
    SpeedtestRequest(direction="up", nbytes=10_000_000),
    SpeedtestResult(down_mbps=512.5, up_mbps=120.0, bucket="500mbps"),
    ErrorNotice(code=3, message="capacity report ignored: stale"),
]


def valid(kind: str) -> dict[str, Any]:
    """The JSON object of the first example of ``kind``."""
    message = next(m for m in EXAMPLES if m.type == kind)
    obj: dict[str, Any] = json.loads(encode_message(message))
    return obj


def malformed(obj: Any) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        decode_message(json.dumps(obj))
    assert info.value.code == CloseCode.MALFORMED
    return info.value


class TestSchemas:
    def test_every_type_has_an_example(self) -> None:
        assert {m.type for m in EXAMPLES} == set(MESSAGE_TYPES)

    @pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: m.type)
    def test_round_trip(self, message: Message) -> None:
        text = encode_message(message)
        assert decode_message(text) == message
        assert json.loads(text)["type"] == message.type

    def test_directions(self) -> None:
        from_node = {t for t, cls in MESSAGE_TYPES.items() if Side.NODE in cls.senders}
        from_gateway = {t for t, cls in MESSAGE_TYPES.items() if Side.GATEWAY in cls.senders}
        assert from_node & from_gateway == {"lease_close", "error"}
        assert "login" in from_node and "hello" in from_gateway

    def test_unknown_fields_are_ignored(self) -> None:
        obj = valid("heartbeat") | {"sent_by": "a newer node"}
        assert decode_message(json.dumps(obj)) == Heartbeat(seq=1)

    def test_speedtest_bytes_field_name(self) -> None:
        assert valid("speedtest_request") == {
            "type": "speedtest_request",
            "direction": "up",
            "bytes": 10_000_000,
        }

    def test_null_means_absent(self) -> None:
        obj = valid("capacity")
        obj["available"]["gpu_infos"] = None  # as the real network sends it
        message = decode_message(json.dumps(obj))
        assert isinstance(message, Capacity) and message.available.gpu_infos == ()
        status = decode_message(
            '{"type":"lease_status","lease_id":"a","state":"closed","ports":[],"reason":null}'
        )
        assert status == LeaseStatus(lease_id="a", state="closed")
        assert decode_message('{"type":"lease_status","lease_id":"a","state":"closed"}') == status

    def test_login_text_method(self) -> None:
        login = EXAMPLES[1]
        assert isinstance(login, Login)
        assert login.text() == login_message(7, ADDRESS, NONCE, int(T0), 1)

    def test_is_lease_id(self) -> None:
        assert is_lease_id("0x12:ab.c-d_e")
        assert not is_lease_id("") and not is_lease_id("a b") and not is_lease_id("x" * 129)


class TestDecodeErrors:
    @pytest.mark.parametrize(
        "text",
        ["", "{", "[]", "null", '"hello"', "NaN", '{"type":1}', '{"seq":1}', '{"type":"nope"}'],
    )
    def test_not_a_known_message(self, text: str) -> None:
        with pytest.raises(ProtocolError) as info:
            decode_message(text)
        assert info.value.code == CloseCode.MALFORMED

    def test_too_large(self) -> None:
        padding = "x" * MAX_CONTROL_BYTES
        with pytest.raises(ProtocolError) as info:
            decode_message('{"type":"error","code":1,"message":"' + padding + '"}')
        assert info.value.code == CloseCode.TOO_LARGE

    def test_too_large_in_bytes_not_characters(self) -> None:
        text = '{"type":"error","code":1,"message":"' + "é" * (MAX_CONTROL_BYTES // 2) + '"}'
        assert len(text) < MAX_CONTROL_BYTES
        with pytest.raises(ProtocolError) as info:
            decode_message(text)
        assert info.value.code == CloseCode.TOO_LARGE

    @pytest.mark.parametrize(
        "text",
        [
            "[" * 50_000,  # deeper than the JSON parser recurses
            '{"type":"heartbeat","seq":' + "9" * 5000 + "}",  # past int's digit limit
            '{"type":"usage","cpu_seconds":1e999}',
            '{"type":"heartbeat","seq":Infinity}',
        ],
        ids=["deep", "digits", "inf", "Infinity"],
    )
    def test_hostile_json(self, text: str) -> None:
        with pytest.raises(ProtocolError) as info:
            decode_message(text)
        assert info.value.code == CloseCode.MALFORMED

    @pytest.mark.parametrize(
        ("kind", "field", "value"),
        [
            ("heartbeat", "seq", None),
            ("heartbeat", "seq", True),
            ("heartbeat", "seq", -1),
            ("heartbeat", "seq", 1.5),
            ("heartbeat", "seq", 2**63),
            ("hello", "versions", []),
            ("hello", "versions", list(range(1, 18))),
            ("hello", "versions", [0]),
            ("hello", "versions", "1"),
            ("hello", "nonce", "ABCDEF" * 10 + "ABCD"),
            ("hello", "nonce", 5),
            ("hello", "server_time", "now"),
            ("hello", "server_time", False),
            ("hello", "server_time", -1.0),
            ("hello", "server_time", 10**400),
            ("login", "address", "0x123"),
            ("login", "signature", "0x" + "z" * 130),
            ("login", "client", "fizz"),
            ("login", "client", {"name": "fizz"}),
            ("login", "client", {"name": "x" * 65, "version": "1"}),
            ("login", "leases", [{"lease_id": "a", "ports": [0], "state": "running"}]),
            ("login", "leases", [{"lease_id": "a", "ports": [80], "state": "Running!"}]),
            ("login", "leases", [{"lease_id": "a b", "ports": [], "state": "running"}]),
            ("login", "leases", [{"lease_id": "a", "ports": [], "state": "running"}] * 2),
            ("login", "leases", {"a": 1}),
            ("welcome", "heartbeat_timeout", 1.0),
            ("welcome", "heartbeat_interval", 0.0),
            ("welcome", "leases", [{"lease_id": "L1", "action": "drop"}]),
            ("welcome", "leases", [{"lease_id": "L1", "action": "keep"}] * 2),
            ("welcome", "session_id", "s" * 129),
            ("capacity", "bandwidth", "fast"),
            ("capacity", "allocatable", {"cpu": 1}),
            ("capacity", "available", {"cpu": 1, "memory": 1, "storage_ephemeral": 1, "gpu": -1}),
            (
                "capacity",
                "allocatable",
                {"cpu": 1, "memory": 1, "storage_ephemeral": 1, "gpu": 1, "gpu_infos": [{}]},
            ),
            ("prices", "cpu_per_thread_month_usd", 0.75),
            ("prices", "cpu_per_thread_month_usd", "-1"),
            ("prices", "cpu_per_thread_month_usd", "1e3"),
            ("prices", "gpu_per_unit_month_usd", "cheap"),
            ("prices", "per_block", {"cpu": 5}),
            ("prices", "per_block", {"CPU!": "5"}),
            ("prices", "per_block", ["5"]),
            ("lease_offer", "resources", []),
            ("lease_offer", "price_per_block", "1.2.3"),
            ("manifest", "services", [1]),
            ("lease_logs", "lines", ["x" * 16385]),
            ("lease_logs", "lines", [None]),
            ("logs_request", "tail", 100_001),
            ("earnings", "amount", ""),
            ("speedtest_request", "direction", "sideways"),
            ("speedtest_request", "bytes", 0),
            ("speedtest_result", "down_mbps", "fast"),
            ("error", "code", 70000),
            ("error", "message", ["x"]),
        ],
    )
    def test_field_breaks_its_schema(self, kind: str, field: str, value: Any) -> None:
        obj = valid(kind)
        if value is None:
            del obj[field]
        else:
            obj[field] = value
        error = malformed(obj)
        assert error.reason.startswith(kind)

    def test_lone_surrogates_are_refused(self) -> None:
        malformed(valid("lease_reject") | {"reason": "\ud800"})

    def test_the_error_names_the_field(self) -> None:
        error = malformed(valid("login") | {"client": {"name": "fizz", "version": 1}})
        assert error.reason == "login.client.version: expected a string of at most 64 characters"


class TestEncode:
    def test_refuses_a_message_breaking_its_schema(self) -> None:
        with pytest.raises(ValueError, match="lease_id"):
            encode_message(LeaseAccept(lease_id="not a lease id"))

    def test_refuses_wrong_python_types(self) -> None:
        with pytest.raises(ValueError, match="wrong type"):
            encode_message(LeaseStatus(lease_id="a", state="running", ports=[80]))  # type: ignore[arg-type]

    def test_refuses_nan(self) -> None:
        with pytest.raises(ValueError):
            encode_message(SpeedtestResult(down_mbps=float("nan"), up_mbps=1, bucket="NA"))

    def test_refuses_over_64_kib(self) -> None:
        lines = tuple("x" * 16000 for _ in range(5))
        with pytest.raises(ValueError, match="64|65536"):
            encode_message(LeaseLogs(lease_id="a", lines=lines))

    def test_non_ascii_stays_readable(self) -> None:
        text = encode_message(LeaseReject(lease_id="a", reason="mémoire insuffisante"))
        assert "mémoire" in text

    def test_lone_surrogates_in_pass_through_json_travel_escaped(self) -> None:
        manifest = Manifest(lease_id="a", services=({"env": "\udcff"},))
        text = encode_message(manifest)
        assert "\\udcff" in text
        text.encode("utf-8")  # valid as a TEXT frame
        assert decode_message(text) == manifest


class TestLoginMessage:
    def test_exact_text(self) -> None:
        assert login_message(7, ADDRESS, NONCE, 1700000000) == (
            "Fizz gateway login\n"
            "protocol: fizz-tunnel.v1\n"
            "gateway: 7\n"
            f"node: {ADDRESS}\n"
            f"nonce: {NONCE}\n"
            "timestamp: 1700000000"
        )

    def test_the_version_is_bound_in(self) -> None:
        assert "protocol: fizz-tunnel.v2\n" in login_message(7, ADDRESS, NONCE, 1, version=2)

    @pytest.mark.parametrize(
        ("address", "nonce"),
        [(ADDRESS + "\nnode: 0x0", NONCE), (ADDRESS, NONCE.upper()), ("0xabc", NONCE)],
    )
    def test_refuses_what_could_forge_a_line(self, address: str, nonce: str) -> None:
        with pytest.raises(ValueError):
            login_message(7, address, nonce, 1)

    def test_signed_with_personal_sign_and_recovered(self) -> None:
        # What the driver and the gateway do around the protocol: EIP-191 sign, then recover.
        account = Account.create()
        text = login_message(7, account.address, NONCE, int(T0))
        signed = Account.sign_message(encode_defunct(text=text), account.key)
        signature = "0x" + bytes(signed.signature).hex()
        login = Login(
            version=1,
            address=account.address,
            gateway_id=7,
            nonce=NONCE,
            timestamp=int(T0),
            signature=signature,
            client=ClientInfo(name="fizz", version="1"),
        )
        received = decode_message(encode_message(login))
        assert isinstance(received, Login)
        recovered = Account.recover_message(
            encode_defunct(text=received.text()), signature=received.signature
        )
        assert recovered.lower() == received.address.lower()


# ---- Fuzzing ------------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=4,
)
EXAMPLE_TEXTS = [encode_message(message) for message in EXAMPLES]


@st.composite
def near_valid_objects(draw: st.DrawFn) -> dict[str, Any]:
    """A valid message with one field removed or replaced by arbitrary JSON."""
    obj: dict[str, Any] = json.loads(draw(st.sampled_from(EXAMPLE_TEXTS)))
    field = draw(st.sampled_from(sorted(obj)))
    if draw(st.booleans()):
        del obj[field]
    else:
        obj[field] = draw(JSON_VALUES)
    return obj


class TestFuzz:
    @settings(max_examples=2000, deadline=None)
    @given(st.text(max_size=200))
    def test_arbitrary_text_raises_only_protocol_error(self, text: str) -> None:
        try:
            decode_message(text)
        except ProtocolError as error:
            assert error.code in (CloseCode.MALFORMED, CloseCode.TOO_LARGE)

    @settings(max_examples=2000, deadline=None)
    @given(near_valid_objects())
    def test_mutated_messages_raise_only_protocol_error(self, obj: dict[str, Any]) -> None:
        try:
            message = decode_message(json.dumps(obj))
        except ProtocolError as error:
            assert error.code == CloseCode.MALFORMED
            return
        # Whatever decodes can be sent back unchanged.
        assert decode_message(encode_message(message)) == message

    @settings(max_examples=300, deadline=None)
    @given(
        st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=6),
        st.sampled_from(sorted(MESSAGE_TYPES)),
    )
    def test_arbitrary_objects_of_each_type(self, obj: dict[str, Any], kind: str) -> None:
        try:
            decode_message(json.dumps(obj | {"type": kind}))
        except ProtocolError as error:
            assert error.code == CloseCode.MALFORMED
