"""Certificate pinning over a real TLS connection on loopback."""

from __future__ import annotations

import asyncio
import ssl

import pytest

from devnet.gateway.tls import self_signed_certificate
from fizz_app.core.pinning import PinningError, certificate_fingerprint, pinned_client_context


async def _handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> bytes:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello over tls")
        await writer.drain()
        writer.close()

    listener = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server)
    port = listener.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
        data = await reader.read()
        writer.close()
        return data
    finally:
        listener.close()
        await listener.wait_closed()


async def test_the_pinned_certificate_is_accepted() -> None:
    gateway = self_signed_certificate()
    client = pinned_client_context(gateway.cert_pem)
    assert await _handshake(gateway.server_context(), client) == b"hello over tls"


async def test_any_other_certificate_is_refused() -> None:
    published = self_signed_certificate()
    impostor = self_signed_certificate()  # same host, different key: a man in the middle
    client = pinned_client_context(published.cert_pem)
    with pytest.raises(ssl.SSLCertVerificationError):
        await _handshake(impostor.server_context(), client)


def test_missing_or_broken_certificates_are_clear_errors() -> None:
    with pytest.raises(PinningError, match="has not published"):
        pinned_client_context("")
    broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    with pytest.raises(PinningError, match="cannot be read"):
        pinned_client_context(broken)


def test_fingerprint_is_stable_and_distinct() -> None:
    one, two = self_signed_certificate(), self_signed_certificate()
    assert certificate_fingerprint(one.cert_pem) == certificate_fingerprint(one.cert_pem)
    assert certificate_fingerprint(one.cert_pem) != certificate_fingerprint(two.cert_pem)
    assert len(certificate_fingerprint(one.cert_pem).split(":")) == 32
