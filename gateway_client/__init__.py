"""gateway_client: the Fizz gateway tunnel (``fizz-tunnel.v1``), reusable on its own.

Sans-I/O protocol modules (no asyncio, no sockets, time passed in) plus one asyncio driver over
``websockets``. This package knows nothing of ``fizz_app``; import-linter enforces that.

The pure modules, all stdlib only, serve both ends (the devnet gateway runs the same state
machine as the node):

- :mod:`gateway_client.protocol`: :class:`TunnelProtocol`, the session state machine, its events.
- :mod:`gateway_client.messages`: control messages (JSON, TEXT frames) and the login text.
- :mod:`gateway_client.frames`: stream frames (BINARY frames).
- :mod:`gateway_client.backoff`: reconnect delays and policy.
- :mod:`gateway_client.exceptions`: close and reset codes, the exception tree.

``PROTOCOL.md`` beside this file is the specification.
"""

from __future__ import annotations

__all__: list[str] = []
