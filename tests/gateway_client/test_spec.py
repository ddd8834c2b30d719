"""PROTOCOL.md and the code must agree: its tables are parsed and checked against the modules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway_client import frames, messages, protocol, speedtest
from gateway_client.exceptions import CloseCode, ResetCode
from gateway_client.messages import MESSAGE_TYPES, Side

SPEC = (Path(__file__).resolve().parents[2] / "gateway_client" / "PROTOCOL.md").read_text()


def table_rows(heading: str) -> list[list[str]]:
    """The body rows of the first Markdown table after ``heading``, as stripped cells."""
    section = SPEC.split(heading, 1)[1]
    lines = section.strip().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def test_message_table_lists_every_type_with_its_direction() -> None:
    arrows = {"N→G": {Side.NODE}, "G→N": {Side.GATEWAY}, "↔": {Side.NODE, Side.GATEWAY}}
    documented = {row[0].strip("`"): arrows[row[1]] for row in table_rows("### 3.2 Message table")}
    assert documented == {kind: set(cls.senders) for kind, cls in MESSAGE_TYPES.items()}


def test_close_code_table_matches_the_code() -> None:
    rows = table_rows("### 9.1 WebSocket close codes")
    assert [int(row[0]) for row in rows] == [int(code) for code in CloseCode]
    for number, name, retry, _sender, sentence in rows:
        code = CloseCode(int(number))
        assert name == f"`{code.name}`"
        assert (retry == "yes") == code.retryable
        assert sentence == code.user_message


def test_reset_code_table_matches_the_code() -> None:
    rows = table_rows("### 9.2 Stream reset codes")
    assert [(int(row[0]), row[1].strip("`")) for row in rows] == [
        (int(code), code.name) for code in ResetCode
    ]


def test_frame_kinds_match() -> None:
    kinds = re.findall(r"(\d) (OPEN|ACCEPT|DATA|WINDOW|FIN|RESET)", SPEC.split("### 4.1")[1])
    assert {(int(n), name) for n, name in kinds} == {(int(k), k.name) for k in frames.FrameKind}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("64 KiB", messages.MAX_CONTROL_BYTES == 64 * 1024),
        ("1..32768 bytes (`MAX_DATA`)", frames.MAX_DATA == 32768),
        ("Default 256 KiB (`INITIAL_WINDOW`)", frames.INITIAL_WINDOW == 256 * 1024),
        ("0..200 | `reason`", frames.MAX_RESET_REASON == 200),
        (
            "Subprotocol: `Sec-WebSocket-Protocol: fizz-tunnel.v1`",
            messages.SUBPROTOCOL == "fizz-tunnel.v1",
        ),
        ("at most 123 UTF-8 bytes", protocol.MAX_CLOSE_REASON == 123),
    ],
)
def test_limits_match(text: str, value: bool) -> None:
    assert text in SPEC and value


def test_defaults_table_matches_tunnel_config() -> None:
    config = protocol.TunnelConfig()
    rows = {row[2]: row[1] for row in table_rows("## 10. Limits and defaults")}
    assert rows["`TunnelConfig.initial_window` (≤ 2³¹−1)"] == f"{config.initial_window // 1024} KiB"
    assert rows["`TunnelConfig.max_send_buffer`"] == f"{config.max_send_buffer // 1024} KiB"
    assert rows["`TunnelConfig.max_streams`"] == str(config.max_streams)
    assert rows["`TunnelConfig.handshake_timeout`"] == f"{config.handshake_timeout:g} s"
    assert rows["`TunnelConfig.login_window` (gateway)"] == f"± {config.login_window:g} s"
    assert rows["`TunnelConfig.heartbeat_*` (gateway; sent in `welcome`)"] == (
        f"{config.heartbeat_interval:g} s / {config.heartbeat_timeout:g} s"
    )


def test_login_text_example_matches_the_builder() -> None:
    block = SPEC.split("### 5.1 The signed text", 1)[1].split("```")[1].strip()
    template = messages.login_message(7, "0x" + "ab" * 20, "c" * 64, 1700000000)
    placeholders = [line.split(":", 1)[0] for line in block.splitlines()]
    assert placeholders == [line.split(":", 1)[0] for line in template.splitlines()]


def test_speedtest_notice_table_and_lease_ids_match() -> None:
    rows = table_rows("### 14.2 Refusals and failures")
    assert {int(row[0]) for row in rows} == set(speedtest.SPEEDTEST_NOTICES)
    for direction in speedtest.DIRECTIONS:
        assert f"`{speedtest.speedtest_lease_id(direction)}`" in SPEC
    assert f"`port` field is {speedtest.TEST_PORT} " in SPEC
