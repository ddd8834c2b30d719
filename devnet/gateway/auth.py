"""Who may log in: the login signature, the chain registration, and the gateway link.

:class:`LoginVerifier` answers one :class:`~gateway_client.protocol.LoginReceived` with the
verified node or an :class:`AuthRefused` carrying the close code to send. The protocol has
already checked what needs no I/O (version, nonce bound to this connection's ``hello``, clock
skew); this module does what does: recover the EIP-191 signer and read the chain.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from eth_account import Account
from eth_account.messages import encode_defunct

from fizz_app.core.chain import AsyncChainClient
from fizz_app.core.chain_errors import ChainError
from gateway_client.exceptions import CloseCode
from gateway_client.protocol import LoginReceived

__all__ = ["AuthRefused", "LoginVerifier", "VerifiedNode", "recover_signer"]

log = logging.getLogger(__name__)

REPLAY_MEMORY_S = 600.0
"""How long an accepted ``(address, nonce)`` pair is remembered; longer than any login window."""

REPLAY_MEMORY_MAX = 200_000
"""Most pairs remembered at once (oldest forgotten first): bounded memory under any load."""


@dataclass(frozen=True)
class VerifiedNode:
    """A login that passed every check."""

    address: str
    """The wallet address, checksummed (as recovered from the signature)."""
    fizz_id: int
    """The node's id in FizzRegistry."""


class AuthRefused(Exception):
    """The login is refused; close the session with ``code`` and ``reason``."""

    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(f"{code.name}: {reason}")
        self.code = code
        self.reason = reason


def recover_signer(text: str, signature: str) -> str | None:
    """Return the checksummed address that signed ``text`` (EIP-191), or ``None`` when the
    signature is not a valid secp256k1 signature at all."""
    try:
        signer: str = Account.recover_message(encode_defunct(text=text), signature=signature)
    except Exception:  # noqa: BLE001 - eth_keys raises several types for a bad v/r/s
        return None
    return signer


class LoginVerifier:
    """Checks a login against its signature and the chain.

    Args:
        chain: reads FizzRegistry (``registration``, ``is_linked``).
        gateway_id: this gateway's provider id; a node must be linked to it.
        clock: monotonic clock for the replay memory.
    """

    def __init__(
        self,
        chain: AsyncChainClient,
        gateway_id: int,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.chain = chain
        self.gateway_id = gateway_id
        self.clock = clock
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()

    async def verify(self, event: LoginReceived) -> VerifiedNode:
        """Verify ``event``; return the node, or raise :class:`AuthRefused`.

        Order: signature (no I/O, the cheapest refusal), replay, registration, link. A chain
        that does not answer is ``CHAIN_UNAVAILABLE``, which nodes retry.
        """
        login = event.login
        # Recovery is ~4 ms of pure Python: a worker thread keeps the event loop (heartbeats
        # of every other session) responsive during a burst of logins.
        signer = await asyncio.to_thread(recover_signer, event.text, login.signature)
        if signer is None or signer.lower() != login.address.lower():
            raise AuthRefused(CloseCode.BAD_SIGNATURE, "the signature is not the node wallet's")
        key = (signer.lower(), login.nonce)
        self._forget_old()
        if key in self._seen:
            raise AuthRefused(CloseCode.NONCE_EXPIRED_OR_REPLAYED, "login replayed")
        try:
            registration = await self.chain.registration(signer)
            if registration is None:
                raise AuthRefused(CloseCode.NOT_REGISTERED, "wallet not registered as a node")
            if not await self.chain.is_linked(registration.fizz_id, self.gateway_id):
                raise AuthRefused(
                    CloseCode.NOT_LINKED, f"node linked to gateway {registration.provider_id}"
                )
        except ChainError as error:
            log.warning("chain unavailable while verifying %s: %s", signer, error.message)
            raise AuthRefused(CloseCode.CHAIN_UNAVAILABLE, "cannot read the chain") from None
        # Remember the pair only once accepted: nonces are fresh per connection, so this only
        # ever trips on a replayed login (a bug or an attack), never on an honest node.
        self._seen[key] = self.clock()
        if len(self._seen) > REPLAY_MEMORY_MAX:
            self._seen.popitem(last=False)
        return VerifiedNode(signer, registration.fizz_id)

    def _forget_old(self) -> None:
        cutoff = self.clock() - REPLAY_MEMORY_S
        while self._seen:
            key, seen_at = next(iter(self._seen.items()))
            if seen_at >= cutoff:
                return
            del self._seen[key]
