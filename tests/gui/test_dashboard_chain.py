"""The dashboard over a real engine whose chain RPC endpoint stops answering: a warning while it
does not, gone once it answers again, and quitting does not wait for a call that hangs.

The node reaches the in-process chain over HTTP through a TCP proxy that the test switches to
refuse connections or to accept them and never answer; its address carries a password and API
keys, which the warning must not show."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QLabel  # noqa: E402
from pytestqt.qtbot import QtBot  # noqa: E402

from fizz_app.core.node import Node  # noqa: E402
from fizz_app.core.state import NodeSnapshot, NodeStatus  # noqa: E402
from fizz_app.gui.bridge import EngineBridge  # noqa: E402
from fizz_app.gui.pages.dashboard import DashboardPage  # noqa: E402
from fizz_app.gui.widgets.chain_notice import chain_notice_text  # noqa: E402
from tests.local_network import (  # noqa: E402
    ProxyMode,
    RpcServer,
    SwitchableProxy,
    proxied_chain,
    registered_node_parts,
)

pytestmark = pytest.mark.gui

SECRETS = ("sekret-pass", "0123456789abcdefKEY", "TOPSECRETVALUE")


@pytest.fixture
def proxy(gui_chain: Any) -> Iterator[SwitchableProxy]:
    suffix = "/v2/0123456789abcdefKEY?apikey=TOPSECRETVALUE"
    with (
        RpcServer(gui_chain.w3) as rpc,
        SwitchableProxy(rpc.address, credentials="ada:sekret-pass@", suffix=suffix) as running,
    ):
        yield running


@pytest.fixture
def node_factory(gui_chain: Any, gui_gateway: Any, gui_home: Path, proxy: SwitchableProxy) -> Any:
    """The real engine on the local network, its chain reads through ``proxy`` with a
    60-second HTTP timeout: a check sent while the proxy hangs waits all that time."""
    _, kwargs = registered_node_parts(gui_chain, gui_home)
    kwargs.update(
        chain=proxied_chain(gui_chain, gui_home, proxy.url, rpc_timeout=60.0),
        chain_every=0.5,
        chain_retry=0.1,
    )
    return lambda: Node(**kwargs)


def test_the_dashboard_warns_while_the_chain_does_not_answer_and_quits_without_waiting(
    qtbot: QtBot,
    make_bridge: Callable[..., EngineBridge],
    node_factory: Callable[[], Node],
    proxy: SwitchableProxy,
) -> None:
    bridge = make_bridge(node_factory=node_factory, snapshot_interval=0.05)
    snapshots: list[NodeSnapshot] = []
    bridge.sig_snapshot.connect(snapshots.append)
    page = DashboardPage(bridge)
    qtbot.addWidget(page)
    page.show()
    qtbot.waitExposed(page)
    notice = page.chain_notice
    bridge.start()
    qtbot.waitUntil(lambda: bridge.is_ready, timeout=30_000)
    bridge.submit(lambda node: node.start())

    def chain() -> dict[str, Any]:
        return (snapshots[-1].chain if snapshots else None) or {}

    qtbot.waitUntil(lambda: snapshots[-1].status is NodeStatus.ONLINE, timeout=60_000)
    qtbot.waitUntil(lambda: chain().get("reachable") is True, timeout=30_000)
    assert not notice.isVisible()

    proxy.switch(ProxyMode.REFUSE)
    qtbot.waitUntil(notice.isVisible, timeout=30_000)
    shown = f"http://127.0.0.1:{proxy.port}/v2/***?apikey=***"
    assert notice.text.startswith("The chain's RPC endpoint has not answered since ")
    assert f"Cannot reach the Local devnet network at {shown}." in notice.text
    assert "Leases keep running" in notice.text
    assert notice.text == chain_notice_text(chain())
    assert not any(secret in notice.text for secret in SECRETS)
    label = notice.findChild(QLabel, "chain_notice_text")
    assert label is not None and label.property("fizzTone") == "WARN"
    without_error = chain_notice_text({**chain(), "error": None})
    assert without_error is not None and without_error.startswith(
        f"The chain's RPC endpoint {shown} has not answered since "
    )
    assert page.status_text == "Online"  # the node goes on serving

    proxy.switch(ProxyMode.FORWARD)
    qtbot.waitUntil(lambda: not notice.isVisible(), timeout=30_000)
    assert chain().get("reachable") is True

    # A check that hangs (the host accepts and never answers) must not hold up quitting.
    proxy.switch(ProxyMode.HANG)
    qtbot.waitUntil(lambda: proxy.held() >= 1, timeout=30_000)
    began = time.monotonic()
    assert bridge.stop(timeout=20.0)
    assert time.monotonic() - began < 20.0
    assert proxy.held() >= 1  # still waiting for its 60-second timeout
