"""The GUI tests' local network works across threads: the engine on the bridge's thread reaches
the gateway on its own thread through the shared in-process chain, and takes a lease."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

import pytest
import wasmtime

pytest.importorskip("PySide6")

from fizz_app.core.state import NodeStatus  # noqa: E402
from fizz_app.gui.bridge import EngineBridge  # noqa: E402

HELLO = wasmtime.wat2wasm(
    """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "hi\\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 3))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"""
)


def test_a_bridge_node_goes_online_and_runs_a_lease(
    qtbot: Any,
    make_bridge: Callable[..., EngineBridge],
    online_node_factory: Any,
    gui_gateway: Any,
) -> None:
    bridge = make_bridge(node_factory=online_node_factory, snapshot_interval=0.05)
    snapshots: list[Any] = []
    bridge.sig_snapshot.connect(snapshots.append)
    bridge.start()
    qtbot.waitUntil(lambda: bridge.is_ready, timeout=30_000)
    bridge.submit(lambda node: node.start())
    qtbot.waitUntil(
        lambda: bool(snapshots) and snapshots[-1].status is NodeStatus.ONLINE, timeout=60_000
    )
    service = {
        "name": "hello",
        "runtime": "wasm",
        "wasm_module": base64.b64encode(HELLO).decode(),
        "resources": {"cpu": {"units": {"val": "100"}}, "memory": {"size": {"val": "16777216"}}},
    }
    gui_gateway.call(
        lambda server: server.deploy(
            "31", [service], node=online_node_factory.address, price_per_block="1000"
        )
    )
    deadline = time.monotonic() + 60
    qtbot.waitUntil(
        lambda: any(
            lease["lease_id"] == "31" and lease["state"] == "closed"
            for lease in snapshots[-1].leases
        ),
        timeout=int((deadline - time.monotonic()) * 1000),
    )
