"""The reference gateway: accepts Fizz nodes over the tunnel protocol, checks them on chain,
gives them tenants' leases, and forwards public TCP ports to those leases
(``fizz-node devnet gateway``).

- :mod:`devnet.gateway.server`: :class:`~devnet.gateway.server.GatewayServer`, the WebSocket
  endpoint, ``GET /status`` and ``/healthz``, and the handling of node messages.
- :mod:`devnet.gateway.auth`: login verification (signature, registration, link, replay).
- :mod:`devnet.gateway.logins`: bounded admission of logins under bursts.
- :mod:`devnet.gateway.sessions`: one live session per wallet.
- :mod:`devnet.gateway.leases`: the lease book (reconciliation, states, byte meters).
- :mod:`devnet.gateway.ports`: public port assignment and listeners.
- :mod:`devnet.gateway.tls`: the self-signed certificate nodes pin.
- :mod:`devnet.gateway.tenant_api`: the tenant HTTP API (manifests, lease status, logs, close).
- :mod:`devnet.gateway.deployments`: offering leases to nodes and sending their manifests.
- :mod:`devnet.gateway.chain_leases`: a lease's node, read from ComputeLease on chain.
"""
