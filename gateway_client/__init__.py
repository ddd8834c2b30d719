"""gateway_client: the node side of the Fizz gateway tunnel, reusable on its own.

Sans-I/O protocol modules (no asyncio, no sockets, time passed in) plus one asyncio driver over
``websockets``. This package knows nothing of ``fizz_app``; import-linter enforces that.
"""

from __future__ import annotations

__all__: list[str] = []
