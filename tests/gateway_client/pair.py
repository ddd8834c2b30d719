"""An in-memory node <-> gateway pair: two TunnelProtocols wired back to back, no sockets.

``pump()`` shuttles messages both ways until both sides are quiet, recording every event and
every message sent, and performs the WebSocket closing handshake when a side asks for a close.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from gateway_client.frames import Frame, decode_frame
from gateway_client.messages import (
    ClientInfo,
    LeaseAction,
    LeaseAnnouncement,
    LeaseStatus,
    Message,
    decode_message,
    login_message,
)
from gateway_client.protocol import (
    Close,
    Event,
    HelloReceived,
    LoginReceived,
    Side,
    State,
    TunnelConfig,
    TunnelProtocol,
)

ADDRESS = "0x" + "1f" * 20
SIGNATURE = "0x" + "ab" * 65
NONCE = "0123456789abcdef" * 4
GATEWAY_ID = 7
T0 = 1_700_000_000.0
CLIENT = ClientInfo(name="fizz-node-desktop", version="0.1.0")

E = TypeVar("E", bound=Event)


@dataclass
class End:
    """One side of the pair and what it has seen."""

    protocol: TunnelProtocol
    events: list[Event] = field(default_factory=list)
    sent: list[str | bytes] = field(default_factory=list)
    close: Close | None = None

    def take(self) -> list[Event]:
        """Return and forget the events recorded so far."""
        events, self.events = self.events, []
        return events

    def of(self, kind: type[E]) -> list[E]:
        """The recorded events of one type, in order."""
        return [event for event in self.events if isinstance(event, kind)]


def decode_sent(sent: Sequence[str | bytes]) -> list[Message | Frame]:
    """Decode recorded outgoing messages for assertions."""
    return [decode_message(m) if isinstance(m, str) else decode_frame(m) for m in sent]


class Pair:
    """A node and a gateway connected in memory, sharing one fake clock ``now``."""

    def __init__(
        self,
        node_config: TunnelConfig | None = None,
        gateway_config: TunnelConfig | None = None,
        now: float = T0,
    ) -> None:
        self.now = now
        self.node = End(TunnelProtocol(Side.NODE, now, node_config))
        self.gateway = End(TunnelProtocol(Side.GATEWAY, now, gateway_config))
        # Messages sent but not yet delivered, per direction (so tests can hold them back).
        self.hold_to_node = False
        self.hold_to_gateway = False
        self._to_node: list[str | bytes] = []
        self._to_gateway: list[str | bytes] = []

    def pump(self) -> None:
        """Deliver until neither side has anything more to send (closes included)."""
        for _ in range(10_000):
            moved = self._collect(self.node, self._to_gateway)
            moved |= self._collect(self.gateway, self._to_node)
            if not self.hold_to_gateway and self._to_gateway:
                batch, self._to_gateway = self._to_gateway, []
                for message in batch:
                    self.gateway.protocol.receive_message(message, self.now)
                moved = True
            if not self.hold_to_node and self._to_node:
                batch, self._to_node = self._to_node, []
                for message in batch:
                    self.node.protocol.receive_message(message, self.now)
                moved = True
            moved |= self._closing(self.node, self.gateway)
            moved |= self._closing(self.gateway, self.node)
            if not moved:
                return
        raise AssertionError("the pair never went quiet")

    def _collect(self, end: End, queue: list[str | bytes]) -> bool:
        end.events += end.protocol.events_received()
        messages = end.protocol.messages_to_send()
        end.sent += messages
        queue += messages
        return bool(messages)

    def _closing(self, closer: End, other: End) -> bool:
        close = closer.protocol.close_to_send()
        if close is None:
            return False
        closer.close = close
        # Messages queued before the close still travel, then the closing handshake.
        self.pump_pending()
        other.protocol.receive_close(close.code, close.reason)
        closer.protocol.receive_close(close.code, close.reason)
        return True

    def pump_pending(self) -> None:
        self._collect(self.node, self._to_gateway)
        self._collect(self.gateway, self._to_node)
        for message in self._to_gateway:
            self.gateway.protocol.receive_message(message, self.now)
        for message in self._to_node:
            self.node.protocol.receive_message(message, self.now)
        self._to_gateway, self._to_node = [], []

    def advance(self, seconds: float) -> None:
        """Move the clock and run both sides' timers."""
        self.now += seconds
        self.node.protocol.tick(self.now)
        self.gateway.protocol.tick(self.now)
        self.pump()

    def handshake(
        self,
        leases: Sequence[LeaseAnnouncement] = (),
        decisions: Mapping[str, LeaseAction] | None = None,
        fizz_id: int = 42,
    ) -> None:
        """Run hello -> login -> welcome (every lease kept unless ``decisions`` says)."""
        self.gateway.protocol.start(self.now, GATEWAY_ID, NONCE)
        self.pump()
        hello = self.node.of(HelloReceived)[-1]
        node = self.node.protocol
        timestamp = node.login_timestamp(self.now)
        # The signature is opaque to the protocol; the text must still be buildable.
        login_message(hello.hello.gateway_id, ADDRESS, hello.hello.nonce, timestamp, hello.version)
        node.send_login(
            address=ADDRESS, timestamp=timestamp, signature=SIGNATURE, client=CLIENT, leases=leases
        )
        self.pump()
        if self.gateway.protocol.state is not State.AUTHENTICATING:
            return
        if decisions is None:
            decisions = {lease.lease_id: LeaseAction.KEEP for lease in leases}
        assert self.gateway.of(LoginReceived)
        self.gateway.protocol.accept("session-1", fizz_id, decisions, self.now)
        self.pump()

    def expose(self, lease_id: str, *ports: int) -> None:
        """Node: report the lease running with ``ports`` (what lets OPEN through)."""
        self.node.protocol.send_control(
            LeaseStatus(lease_id=lease_id, state="running", ports=tuple(ports))
        )
        self.pump()

    def clear(self) -> None:
        """Forget recorded events and sent messages on both sides."""
        for end in (self.node, self.gateway):
            end.events.clear()
            end.sent.clear()


def open_pair(
    node_config: TunnelConfig | None = None, gateway_config: TunnelConfig | None = None
) -> Pair:
    """A pair with an open session, lease ``L1`` exposing port 8080, records cleared."""
    pair = Pair(node_config, gateway_config)
    pair.handshake()
    pair.expose("L1", 8080)
    pair.clear()
    return pair
