"""The devnet chain: compiled contract artifacts, deployment, faucet and a local anvil node.

- :mod:`devnet.chain.artifacts` loads ``resources/contracts/*.json`` (built by
  ``node contracts/compile.mjs``).
- :mod:`devnet.chain.deploy` deploys and wires every contract (:func:`deploy_all`).
- :mod:`devnet.chain.faucet` funds an address with ether and uSPON.
- :mod:`devnet.chain.anvil` runs the anvil binary from ``tools/npm`` as a child process.
"""

from __future__ import annotations

from devnet.chain.accounts import gateway_account
from devnet.chain.anvil import AnvilNotFoundError, AnvilProcess
from devnet.chain.artifacts import Artifact, load_artifact
from devnet.chain.deploy import Deployment, DeploymentError, deploy_all
from devnet.chain.faucet import fund

__all__ = [
    "AnvilNotFoundError",
    "AnvilProcess",
    "Artifact",
    "Deployment",
    "DeploymentError",
    "deploy_all",
    "fund",
    "gateway_account",
    "load_artifact",
]
