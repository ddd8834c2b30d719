"""The frozen app in dist/Fizz works on its own: the CLI, the GUI offscreen, the keyring, the
update check, and what the spec must carry (and leave out)."""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from keyring.backend import KeyringBackend

from fizz_app import __version__

from .conftest import ROOT, Frozen


def test_cli_version(frozen: Frozen) -> None:
    result = frozen("fizz-node", "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"fizz-node {__version__}"
    as_json = frozen("fizz-node", "version", "--json")
    assert json.loads(as_json.stdout) == {"version": __version__}


def test_cli_check_json_parses(frozen: Frozen) -> None:
    # The devnet profile is met here (the source tests say so too): the hardware probes, the
    # profiles in resources/ and the JSON output all work frozen.
    result = frozen("fizz-node", "check", "--json", "--profile", "devnet")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["meets_minimum"] is True
    assert report["profile"]


def test_gui_opens_offscreen_and_quits_cleanly(frozen: Frozen, frozen_env: dict[str, str]) -> None:
    result = frozen("Fizz", "--quit-after", "3", timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    log = (Path(frozen_env["FIZZ_HOME"]) / "logs").glob("*.log")
    text = "\n".join(path.read_text(errors="replace") for path in log)
    assert f"Fizz Node {__version__} desktop app starting" in text
    assert "desktop app exiting with code 0" in text


def test_wallet_create_uses_the_secret_service(
    frozen: Frozen, secret_service: KeyringBackend
) -> None:
    # No PYTHON_KEYRING_BACKEND: the frozen keyring must find its Secret Service backend by
    # itself (the backends and keyring's entry-point metadata are bundled).
    env = {"DBUS_SESSION_BUS_ADDRESS": os.environ["DBUS_SESSION_BUS_ADDRESS"]}
    created = frozen("fizz-node", "wallet", "create", "--json", env=env)
    assert created.returncode == 0, created.stderr
    data = json.loads(created.stdout)
    assert data["storage"] == "keyring"
    assert "Secret Service" in data["storage_description"]
    assert len(data["mnemonic"].split()) == 12
    shown = frozen("fizz-node", "wallet", "show", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["address"] == data["address"]


def test_plaintext_keyring_is_bundled_and_refused(frozen: Frozen) -> None:
    # keyrings.alt (metadata + keyrings.alt.file) is in the bundle: naming its plain-text backend
    # loads it, and the app refuses it as a secure store and encrypts a keystore file instead.
    env = {
        "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
        "FIZZ_WALLET_PASSPHRASE": "correct horse battery",
    }
    created = frozen("fizz-node", "wallet", "create", "--json", env=env)
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["storage"] == "keystore"


def test_bundle_carries_what_pyinstaller_misses(bundle: Path) -> None:
    internal = bundle / "_internal"
    assert list((internal / "wasmtime").glob("*/_libwasmtime.so")), "wasmtime's native library"
    assert (internal / "eth_account" / "hdaccount" / "wordlist" / "english.txt").is_file()
    assert list((internal / "ens" / "specs").glob("*.json"))
    # web3's data files (collect_data_files("web3")): every non-Python file it ships is there.
    spec = importlib.util.find_spec("web3")
    if spec is not None and spec.origin is not None:
        web3_source = Path(spec.origin).parent
        data = [
            p for p in web3_source.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")
        ]
        assert data and all(
            (internal / "web3" / p.relative_to(web3_source)).is_file() for p in data
        )
    else:
        assert list((internal / "web3" / "_utils" / "contract_sources").glob("*.sol"))
    assert list(internal.glob("keyrings.alt-*.dist-info/entry_points.txt"))
    assert list(internal.glob("keyring-*.dist-info/entry_points.txt"))
    assert list((internal / "keyring" / "backends").glob("SecretService.*"))
    source_assets = sorted(p.name for p in (ROOT / "fizz_app/gui/assets").glob("*.svg"))
    bundled_assets = sorted(p.name for p in (internal / "fizz_app/gui/assets").glob("*.svg"))
    assert bundled_assets == source_assets
    for sub in ("profiles", "networks", "contracts", "pricing"):
        assert list((internal / "resources" / sub).glob("*.json")), sub


def test_bundle_leaves_out_devnet_tests_and_unused_qt(bundle: Path, frozen: Frozen) -> None:
    internal = bundle / "_internal"
    for name in ("devnet", "tests", "benchmarks", "pytest", "hypothesis", "eth_tester"):
        assert not (internal / name).exists(), name
    qt = internal / "PySide6" / "Qt"
    assert not (qt / "translations").exists()
    assert not (qt / "qml").exists()
    assert not list(internal.rglob("libQt6WebEngine*"))
    assert not list(internal.rglob("libQt6Quick*"))
    assert not list(internal.rglob("libgtk-3*"))
    result = frozen("fizz-node", "devnet", "--help")
    assert result.returncode == 2
    assert "invalid choice: 'devnet'" in result.stderr


@pytest.fixture
def feed() -> Iterator[str]:
    """A release feed on 127.0.0.1 naming a newer version."""
    body = json.dumps(
        {"latest": "99.0.0", "url": "https://example.org/fizz/99", "notes": "Newer."}
    ).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/latest.json"
    finally:
        server.shutdown()
        server.server_close()


def test_update_check_from_the_bundle(frozen: Frozen, feed: str) -> None:
    result = frozen("fizz-node", "version", "--check", "--json", env={"FIZZ_UPDATE_FEED": feed})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["update_available"] is True
    assert data["url"] == "https://example.org/fizz/99"


def test_gui_cold_start_budget(frozen: Frozen) -> None:
    # Start to first window and straight out again (--quit-after 0): the budget is 3 s on the
    # reference machine (benchmarks/RESULTS.md); allow twice that on a loaded CI machine.
    frozen("Fizz", "--quit-after", "0", timeout=60)  # warm the page cache like a second start
    started = time.monotonic()
    result = frozen("Fizz", "--quit-after", "0", timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-2000:]
    assert elapsed < 6.0, f"the frozen app took {elapsed:.2f} s to open and quit"
