"""TLS to a gateway whose certificate is pinned.

A gateway publishes its certificate on chain (ProviderRegistry); the node trusts exactly that
certificate and nothing else: not the system's CAs, and no other certificate for the same
host. Gateways use self-signed certificates (the real network's too), so the pinned
certificate is the trust anchor and hostname checks add nothing.
"""

from __future__ import annotations

import hashlib
import ssl

from .errors import UserFacingError

__all__ = ["PinningError", "pinned_client_context", "certificate_fingerprint"]


class PinningError(UserFacingError):
    """The gateway's published certificate is missing or unreadable."""


def certificate_fingerprint(cert_pem: str) -> str:
    """SHA-256 fingerprint of a PEM certificate, as colon-separated hex (what users compare)."""
    der = ssl.PEM_cert_to_DER_cert(cert_pem.strip() + "\n")
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def pinned_client_context(cert_pem: str) -> ssl.SSLContext:
    """Return a client TLS context that accepts only ``cert_pem``.

    Raises:
        PinningError: the certificate is empty or not a PEM certificate.
    """
    if "BEGIN CERTIFICATE" not in cert_pem:
        raise PinningError(
            "The gateway has not published a TLS certificate.",
            "Choose another gateway, or ask this one's operator to publish its certificate.",
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_verify_locations(cadata=cert_pem)
    except ssl.SSLError as error:
        raise PinningError(
            f"The gateway's published certificate cannot be read ({error.reason}).",
            "Choose another gateway.",
        ) from None
    # The pinned certificate is the only anchor: a different certificate fails verification
    # even for the same host, so the host name adds nothing (and devnet gateways are IPs).
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    return context
