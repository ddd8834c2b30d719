"""Publish the reference gateway in ProviderRegistry: where nodes connect, and the TLS
certificate they pin (the real network stores each gateway's certificate on chain)."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount
from web3 import Web3

from devnet.chain.accounts import gateway_account
from devnet.chain.deploy import Deployment
from devnet.chain.tx import send_signed

__all__ = ["publish_gateway"]


def publish_gateway(
    w3: Web3,
    deployment: Deployment,
    *,
    host_uri: str,
    certificate: str,
    account: LocalAccount | None = None,
) -> int:
    """Set the gateway's ``hostUri`` and ``certificate`` (PEM, or empty for none) on chain.

    The gateway signs with its own key (``account``, by default the devnet gateway's);
    unchanged values send no transaction.

    Returns:
        How many transactions were sent (0, 1 or 2).
    """
    registry = deployment.contract(w3, "ProviderRegistry")
    signer = account if account is not None else gateway_account()
    row = registry.functions.getProvider(deployment.gateway_provider_id).call()
    _spec, current_uri, current_certificate = row[0], row[1], row[2]
    sent = 0
    if current_certificate != certificate:
        send_signed(w3, registry.functions.updateCertificate(certificate), signer)
        sent += 1
    if current_uri != host_uri:
        send_signed(w3, registry.functions.updateHostUri(host_uri), signer)
        sent += 1
    return sent
