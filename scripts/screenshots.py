"""Screenshots of the desktop app for the README: every page with real content, the first steps
of the set-up wizard, a lease's log and the tray menu, as PNGs in ``docs/screenshots/``.

Run ``make screenshots`` (or ``.venv/bin/python scripts/screenshots.py``). Nothing is mocked:

- with no display, it starts a virtual screen (``Xvfb``) and a tray host (``trayer``, where it
  is installed) for the app's real X11 windows; ``--offscreen`` uses Qt's offscreen platform;
- a whole local network runs in this process (``tests/local_network.py``): the in-process
  chain with every contract, the reference gateway on its own thread, and a registered wallet;
- the real app window, tray icon and engine go online, two WebAssembly leases start, earnings
  are credited and rewards become claimable; then each page is shown and grabbed;
- a second window on an empty data folder opens the set-up wizard, as on a first launch.

Each window is 900 x 600 so that a PNG stays small (the script fails if one passes 150 KB).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the project's packages live at the root
    sys.path.insert(0, str(ROOT))

WINDOW_SIZE = (900, 600)
MAX_PNG_BYTES = 150_000
SPON = 10**18

# A WASI command that prints one line, then sleeps ten minutes: "running" until it is closed.
SERVER_WAT = """
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 256) "serving requests on the Fizz network\\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 256))
    (i32.store (i32.const 4) (i32.const 37))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i64.store (i32.const 64) (i64.const 7))
    (i32.store8 (i32.const 72) (i32.const 0))
    (i32.store (i32.const 80) (i32.const 1))
    (i64.store (i32.const 88) (i64.const 600000000000))
    (i64.store (i32.const 96) (i64.const 0))
    (i32.store16 (i32.const 104) (i32.const 0))
    (drop (call $poll_oneoff (i32.const 64) (i32.const 128) (i32.const 1) (i32.const 160)))))
"""


class ScreenshotError(RuntimeError):
    """A step did not happen in time; the message says which."""


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=ROOT / "docs" / "screenshots", help="where PNGs go"
    )
    parser.add_argument(
        "--offscreen",
        action="store_true",
        help="use Qt's offscreen platform instead of a virtual X screen (no tray menu host)",
    )
    return parser.parse_args(argv)


# ---- A virtual screen with a tray ----------------------------------------------------------------


@contextlib.contextmanager
def _virtual_screen() -> Iterator[str]:
    """Start Xvfb on a free display; yields its ``DISPLAY`` value and stops it afterwards."""
    if shutil.which("Xvfb") is None:
        raise ScreenshotError("Xvfb is not installed: run scripts/bootstrap.sh, or --offscreen")
    from tests.virtual_screen import XvfbError, xvfb_display

    try:
        with xvfb_display() as display:
            yield display
    except XvfbError as error:  # only xvfb_display raises it: Xvfb did not start
        raise ScreenshotError(str(error)) from error


@contextlib.contextmanager
def _tray_host(display: str) -> Iterator[bool]:
    """Start ``trayer`` on ``display`` where it is installed; yields whether it runs."""
    if shutil.which("trayer") is None:
        print("trayer is not installed: no tray icon in the screenshots", file=sys.stderr)
        yield False
        return
    from tests.virtual_screen import stop

    host = subprocess.Popen(
        ["trayer", "--edge", "top", "--align", "right", "--width", "10"],
        env={**os.environ, "DISPLAY": display},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield True
    finally:
        stop(host, grace_s=5)


# ---- Capture -------------------------------------------------------------------------------------


class _Shooter:
    """Waits on the Qt event loop and saves widgets as PNGs into ``out``."""

    def __init__(self, out: Path) -> None:
        from PySide6.QtWidgets import QApplication

        app = QApplication.instance()
        assert app is not None, "create the QApplication first"
        self.out = out
        self.app = app
        self.saved: list[Path] = []

    def wait(self, what: str, predicate: Callable[[], object], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise ScreenshotError(f"timed out after {timeout:.0f} s waiting for {what}")
            self.settle(0.05)

    def settle(self, seconds: float) -> None:
        from PySide6.QtCore import QEventLoop

        end = time.monotonic() + seconds
        while True:
            self.app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
            if time.monotonic() >= end:
                return
            time.sleep(0.01)

    def save(self, name: str, widget: Any) -> None:
        self.settle(0.3)  # let layouts and the chart finish drawing
        path = self.out / f"{name}.png"
        if not widget.grab().save(str(path), "PNG", 9):
            raise ScreenshotError(f"could not write {path}")
        size = path.stat().st_size
        if size > MAX_PNG_BYTES:
            raise ScreenshotError(f"{path.name} is {size} bytes, over {MAX_PNG_BYTES}")
        self.saved.append(path)
        print(f"saved {path} ({size // 1000} KB)", file=sys.stderr)


def _window(bridge: Any, home: Path, shooter: _Shooter, *, tray: bool) -> tuple[Any, Any]:
    from fizz_app.gui.main_window import MainWindow
    from fizz_app.gui.tray import TrayIcon

    window = MainWindow(bridge)
    window.resize(*WINDOW_SIZE)
    window.setMinimumSize(*WINDOW_SIZE)
    tray_icon = TrayIcon(bridge, home)
    if tray:
        tray_icon.show()
    window.show()
    shooter.wait("the window to show", window.isVisible)
    return window, tray_icon


def _server(name: str) -> dict[str, Any]:
    import wasmtime

    return {
        "name": name,
        "runtime": "wasm",
        "wasm_module": base64.b64encode(wasmtime.wat2wasm(SERVER_WAT)).decode(),
        "resources": {"cpu": {"units": {"val": "250"}}, "memory": {"size": {"val": "33554432"}}},
    }


def _online_pages(chain: Any, gateway: Any, home: Path, shooter: _Shooter, tray: bool) -> None:
    from PySide6.QtWidgets import QScrollArea

    from devnet.chain.tx import send
    from fizz_app.core.node import Node
    from fizz_app.core.state import NodeStatus
    from fizz_app.gui.bridge import EngineBridge
    from fizz_app.gui.widgets.lease_logs import LeaseLogsDialog
    from tests.local_network import registered_node_parts

    address, kwargs = registered_node_parts(chain, home)
    bridge = EngineBridge(lambda: Node(**kwargs), snapshot_interval=0.1)
    snapshots: list[Any] = []
    bridge.sig_snapshot.connect(snapshots.append)
    window, tray_icon = _window(bridge, home, shooter, tray=tray)
    bridge.start()
    try:
        shooter.wait("the engine", lambda: bridge.is_ready and snapshots)
        bridge.submit(lambda node: node.start())
        shooter.wait("the node to go online", lambda: snapshots[-1].status is NodeStatus.ONLINE)

        for lease_id, name in (("41", "web-api"), ("42", "image-resizer")):
            gateway.call(
                lambda server, i=lease_id, n=name: server.deploy(
                    i, [_server(n)], node=address, price_per_block="1000"
                )
            )
        model = window.dashboard_page.lease_model

        def running(lease_id: str) -> bool:
            row = model.row_of(lease_id)
            return row is not None and model.index(row, 4).data() == "Running"

        shooter.wait("both leases to run", lambda: running("41") and running("42"))

        async def credit(server: Any) -> None:
            server.credit_earnings("41", "1840")
            server.credit_earnings("42", "960")

        gateway.call(credit)
        manager = chain.deployment.contract(chain.w3, "FizzRewardsManager")
        send(
            chain.w3,
            manager.functions.addFizzPendingRewards([address], [12 * SPON]),
            chain.deployment.admin,
        )
        shooter.wait(
            "the earnings to be credited",
            lambda: snapshots[-1].earnings is not None and "2800" in str(snapshots[-1].earnings),
        )
        shooter.settle(1.0)

        for key in ("dashboard", "earnings", "pricing", "settings", "system_check"):
            window.show_page(key)
            if key == "earnings":
                earnings = window.page(key)
                shooter.wait("the earnings chart", earnings.chart.values)
                shooter.settle(1.5)  # the balances come from the chain
            shooter.save(key.replace("_", "-"), window)
            if key == "earnings":  # the chart is further down the page
                scroll = earnings.findChild(QScrollArea)
                scroll.verticalScrollBar().setValue(scroll.verticalScrollBar().maximum())
                shooter.save("earnings-chart", window)

        window.show_page("dashboard")
        dialog = window.dashboard_page.open_logs(model.row_of("41"))
        assert isinstance(dialog, LeaseLogsDialog)
        shooter.wait("the lease's log", lambda: "serving" in dialog.text)
        shooter.save("lease-log", dialog)
        dialog.close()

        menu = tray_icon.menu
        menu.popup(window.mapToGlobal(window.rect().center()))
        shooter.wait("the tray menu", menu.isVisible)
        shooter.save("tray-menu", menu)
        menu.hide()
    finally:
        bridge.stop(timeout=15)
        window.close()
        tray_icon.hide()


def _first_run(home: Path, shooter: _Shooter) -> None:
    from fizz_app.core.config import SettingsStore
    from fizz_app.core.node import Node
    from fizz_app.gui.bridge import EngineBridge

    home.mkdir(parents=True, exist_ok=True)
    os.environ["FIZZ_HOME"] = str(home)
    bridge = EngineBridge(
        lambda: Node(store=SettingsStore(home / "settings.json"), data_dir=home),
        snapshot_interval=0.1,
    )
    window, tray_icon = _window(bridge, home, shooter, tray=False)
    window.offer_setup()
    bridge.start()
    try:
        shooter.wait("the set-up wizard", lambda: window.current_page_key == "setup")
        wizard = window.page("setup")
        shooter.wait("the system check", wizard.next_button.isEnabled)
        shooter.save("setup-1-system-check", window)
        wizard.go_next()
        shooter.settle(1.0)
        shooter.save("setup-2-wallet", window)
    finally:
        bridge.stop(timeout=15)
        window.close()
        tray_icon.hide()


def capture(out: Path, tray: bool) -> list[Path]:
    """Run the local network and the app in this process and save every screenshot in
    ``out``; returns the files written. Call it once the Qt platform is chosen."""
    from PySide6.QtWidgets import QApplication, QSystemTrayIcon

    from tests.local_network import BackgroundGateway, thread_safe_chain

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fizz-screenshots-") as folder:
        scratch = Path(folder)
        home = scratch / "home"
        home.mkdir()
        os.environ["FIZZ_HOME"] = str(home)
        app = QApplication.instance() or QApplication(["fizz-app"])
        app.setApplicationName("Fizz Node")
        shooter = _Shooter(out)
        tray = tray and QSystemTrayIcon.isSystemTrayAvailable()
        chain = thread_safe_chain(scratch / "chain")
        with BackgroundGateway(chain, scratch) as gateway:
            _online_pages(chain, gateway, home, shooter, tray)
        _first_run(scratch / "fresh-home", shooter)
    return shooter.saved


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.offscreen:
            os.environ["QT_QPA_PLATFORM"] = "offscreen"
            saved = capture(args.out, tray=False)
        else:
            with _virtual_screen() as display, _tray_host(display) as tray:
                os.environ["DISPLAY"] = display
                os.environ["QT_QPA_PLATFORM"] = "xcb"
                time.sleep(0.5 if tray else 0)  # the tray host claims the tray selection
                saved = capture(args.out, tray=tray)
    except ScreenshotError as error:
        print(f"screenshots failed: {error}", file=sys.stderr)
        return 1
    print(f"{len(saved)} screenshots in {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
