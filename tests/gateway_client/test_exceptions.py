"""Tests for gateway_client.exceptions: the close-code table and the exception tree."""

from __future__ import annotations

import pytest

from gateway_client.exceptions import (
    AUTH_CLOSE_CODES,
    FATAL_CLOSE_CODES,
    AuthError,
    CloseCode,
    FrameError,
    InvalidState,
    ProtocolError,
    ResetCode,
    SessionClosed,
    StreamLimitError,
    TunnelError,
    close_message,
    is_retryable,
    session_closed,
)


class TestCloseCodes:
    def test_codes_are_in_the_application_range(self) -> None:
        assert all(4000 <= code <= 4099 for code in CloseCode)
        assert [int(code) for code in CloseCode] == list(range(4000, 4013))

    def test_fatal_codes(self) -> None:
        assert {code for code in CloseCode if not code.retryable} == FATAL_CLOSE_CODES
        assert FATAL_CLOSE_CODES < AUTH_CLOSE_CODES

    @pytest.mark.parametrize("code", list(CloseCode))
    def test_every_code_has_a_sentence(self, code: CloseCode) -> None:
        message = code.user_message
        assert message.endswith(".") and message[0].isupper()
        assert close_message(int(code)) == message
        # Retryable codes say the app is retrying; fatal ones say what the user must do.
        assert ("reconnect" in message or "retry" in message) == code.retryable

    def test_other_codes(self) -> None:
        assert close_message(None) == close_message(1006)
        assert "dropped" in close_message(None)
        assert "code 1011" in close_message(1011)
        assert is_retryable(None) and is_retryable(4099)

    def test_reset_codes(self) -> None:
        assert [(c.name, int(c)) for c in ResetCode] == [
            ("REFUSED", 1),
            ("CONNECT_FAILED", 2),
            ("FLOW_CONTROL_ERROR", 3),
            ("LEASE_CLOSED", 4),
            ("PROTOCOL_ERROR", 5),
            ("CANCELLED", 6),
        ]


class TestExceptionTree:
    def test_hierarchy(self) -> None:
        for cls in (ProtocolError, SessionClosed, InvalidState, StreamLimitError):
            assert issubclass(cls, TunnelError)
        assert issubclass(FrameError, ProtocolError)
        assert issubclass(AuthError, SessionClosed)

    def test_protocol_error(self) -> None:
        error = ProtocolError(CloseCode.MALFORMED, "bad json")
        assert (error.code, error.reason, str(error)) == (
            CloseCode.MALFORMED,
            "bad json",
            "MALFORMED: bad json",
        )

    def test_frame_error_defaults_to_a_session_error(self) -> None:
        error = FrameError("short")
        assert (error.stream_id, error.kind, error.code, error.reset_code) == (
            None,
            None,
            CloseCode.MALFORMED,
            ResetCode.PROTOCOL_ERROR,
        )

    def test_session_closed_for_a_driver(self) -> None:
        fatal = session_closed(CloseCode.ALREADY_CONNECTED, "elsewhere")
        assert isinstance(fatal, AuthError) and not fatal.retryable
        assert fatal.user_message == CloseCode.ALREADY_CONNECTED.user_message
        assert str(fatal) == "session closed (code 4006): elsewhere"
        dropped = session_closed(None)
        assert type(dropped) is SessionClosed and dropped.retryable
        assert str(dropped) == "session closed (code None)"
        stale = session_closed(CloseCode.NONCE_EXPIRED_OR_REPLAYED)
        assert isinstance(stale, AuthError) and stale.retryable
