"""A self-signed TLS certificate for the devnet gateway.

The real network publishes each gateway's certificate in ProviderRegistry and nodes pin it;
the devnet gateway makes its own and publishes it the same way. Like a real gateway it keeps
its certificate across restarts (:func:`kept_certificate`): nodes that pinned it reconnect to
the restarted gateway without looking it up again.
"""

from __future__ import annotations

import asyncio.sslproto
import datetime
import ipaddress
import json
import logging
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fizz_app.core.atomic import write_atomic

__all__ = [
    "TLS_READ_BUFFER",
    "Certificate",
    "kept_certificate",
    "limit_tls_read_buffer",
    "self_signed_certificate",
]

log = logging.getLogger(__name__)

RENEW_BEFORE = datetime.timedelta(days=1)
"""A kept certificate this close to expiry is replaced by a new one."""

TLS_READ_BUFFER = 64 * 1024
"""Read buffer of each asyncio TLS connection once :func:`limit_tls_read_buffer` ran."""


@dataclass(frozen=True)
class Certificate:
    cert_pem: str
    key_pem: str = ""

    def server_context(self) -> ssl.SSLContext:
        """A server-side TLS context presenting this certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        # load_cert_chain wants files: write them to a private temporary folder just long
        # enough to load them.
        with tempfile.TemporaryDirectory() as folder:
            cert, key = Path(folder) / "cert.pem", Path(folder) / "key.pem"
            cert.write_text(self.cert_pem)
            key.touch(mode=0o600)
            key.write_text(self.key_pem)
            context.load_cert_chain(cert, key)
        return context


def self_signed_certificate(
    host: str = "127.0.0.1", *, days: int = 30, now: datetime.datetime | None = None
) -> Certificate:
    """Make an ECDSA P-256 certificate for ``host`` (an IP address or a DNS name)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"fizz devnet gateway {host}")])
    try:
        alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        alt = x509.DNSName(host)
    start = now or datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - datetime.timedelta(minutes=5))
        .not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Certificate(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
    )


def kept_certificate(path: Path, host: str) -> Certificate:
    """The certificate kept in ``path`` (JSON, mode 0600: it holds the private key) when it
    names ``host`` and is valid for more than a day; otherwise a new one, saved there.

    An unreadable or foreign file is replaced (the gateway can always make a new certificate;
    nodes then pick it up from the chain when they next go online).
    """
    now = datetime.datetime.now(datetime.UTC)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        kept = Certificate(cert_pem=str(data["cert_pem"]), key_pem=str(data["key_pem"]))
        cert = x509.load_pem_x509_certificate(kept.cert_pem.encode())
        if data.get("host") == host and cert.not_valid_after_utc - now > RENEW_BEFORE:
            return kept
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.warning("kept certificate %s unusable, making a new one: %r", path, error)
    fresh = self_signed_certificate(host, now=now)
    record = {"host": host, "cert_pem": fresh.cert_pem, "key_pem": fresh.key_pem}
    write_atomic(path, json.dumps(record).encode("utf-8"), mode=0o600)
    return fresh


def limit_tls_read_buffer(size: int = TLS_READ_BUFFER) -> None:
    """Shrink the read buffer asyncio gives every TLS connection, for this whole process.

    CPython's ``asyncio.sslproto.SSLProtocol`` allocates (and zero-fills) a 256 KiB read buffer
    per connection: 2,000 node sessions over ``wss://`` cost the gateway ~500 MiB for buffers
    that hold a few hundred bytes of heartbeat at a time (measured in
    ``benchmarks/gateway_load.py``). TLS records carry at most 16 KiB, so 64 KiB per read is
    plenty; only connections made afterwards are affected. Never grows the buffer.
    """
    protocol = asyncio.sslproto.SSLProtocol
    if size < protocol.max_size:
        protocol.max_size = size
