"""The frozen app in dist/Fizz works on its own: the CLI, the GUI offscreen, the keyring, the
update check, what the spec must carry (and leave out), the size budget, and — through the probe
frozen over the same modules (tests/bundle/frozen_probe.py) — everything the app uses from the
dependencies the spec trims."""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from keyring.backend import KeyringBackend

from fizz_app import __version__

from .conftest import (
    BUDGET_UNPACKED,
    BUNDLE,
    PROBE,
    ROOT,
    Frozen,
    assert_each_name_on_path_runs_its_program,
)

LINUX = sys.platform.startswith("linux")


def disk_usage(folder: Path) -> int:
    """Bytes ``du`` counts for ``folder``: allocated blocks, a hard-linked file once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for path in [folder, *folder.rglob("*")]:
        info = path.lstat()
        if (info.st_dev, info.st_ino) not in seen:
            seen.add((info.st_dev, info.st_ino))
            total += info.st_blocks * 512
    return total


def source_modules() -> list[str]:
    """Every module of the app's packages in the source tree (``__main__`` aside)."""
    names = []
    for package in ("fizz_app", "gateway_client"):
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if len(parts) > 1 and parts[-1] != "__main__":
                names.append(".".join(parts))
    return sorted(names)


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
    # Every keyring backend the bundled metadata names loads (none logs an import error).
    assert "Error initializing plugin" not in text + result.stderr


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
    # keyrings.alt (metadata + its backends) is in the bundle: naming its plain-text backend
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
    if not LINUX:  # Linux: in the executable's module archive; the probe imports it there
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
    # Parts of dependencies nothing the app runs reaches (installer/fizz.spec, EXCLUDES and
    # DROP_PATHS); test_frozen_probe_exercises_the_dependencies proves the app does without.
    for name in ("numpy/random", "numpy/fft", "Crypto/PublicKey", "Crypto/Math"):
        assert not (internal / name).exists(), name
    assert not list(internal.rglob("readline.*.so"))
    qt = internal / "PySide6" / "Qt"
    assert not (qt / "translations").exists()
    assert not (qt / "qml").exists()
    assert not list(internal.rglob("libQt6WebEngine*"))
    assert not list(internal.rglob("libQt6Quick*"))
    assert not list(internal.rglob("libgtk-3*"))
    result = frozen("fizz-node", "devnet", "--help")
    assert result.returncode == 2
    assert "invalid choice: 'devnet'" in result.stderr


@pytest.mark.skipif(not LINUX, reason="the single executable and the ICU trim are Linux's")
def test_linux_bundle_layout(bundle: Path) -> None:
    internal = bundle / "_internal"
    # One executable under two names, stored once (installer/entry_linux.py picks by name).
    gui, cli = (bundle / "Fizz").stat(), (bundle / "fizz-node").stat()
    assert (gui.st_dev, gui.st_ino) == (cli.st_dev, cli.st_ino)
    # The modules are in its compressed archive, not loose .pyc files.
    assert not list(internal.rglob("*.pyc"))
    # Qt's ICU data is the English-only package (installer/linux/trim_icu.py), not the 31 MB one.
    icu_data = list((internal / "PySide6" / "Qt" / "lib").glob("libicudata.so.*"))
    assert icu_data and all(path.stat().st_size < 8_000_000 for path in icu_data)


def test_bundle_within_its_size_budget(bundle: Path) -> None:
    used = disk_usage(bundle)
    assert used <= BUDGET_UNPACKED, (
        f"dist/Fizz takes {used / 1e6:.1f} MB ({used / 2**20:.1f} MiB): the budget is "
        f"{BUDGET_UNPACKED / 1e6:.0f} MB (benchmarks/RESULTS.md, Desktop bundle)"
    )


def test_the_name_picks_the_app_or_the_command_line(
    bundle: Path, frozen: Frozen, frozen_env: dict[str, str], tmp_path: Path
) -> None:
    assert frozen("Fizz", "--version").stdout.strip() == f"Fizz Node {__version__}"
    assert frozen("fizz-node", "--version").stdout.strip() == f"fizz-node {__version__}"
    # Started through links on PATH named like the .deb's /usr/bin/fizz-node and fizz-app.
    assert_each_name_on_path_runs_its_program(
        bundle / "fizz-node", bundle / "Fizz", frozen_env, tmp_path
    )


# ---- The probe: the dependencies, exercised in the frozen environment ----------------------


@pytest.fixture(scope="session")
def probe() -> Path:
    if not LINUX:
        pytest.skip("the spec builds the probe on Linux")
    if not os.access(PROBE, os.X_OK):
        pytest.fail(f"{PROBE} is missing: build the bundle first (make bundle)")
    return PROBE


def run_probe(
    program: Path, env: dict[str, str], cwd: Path, *checks: str
) -> tuple[int, dict[str, Any]]:
    result = subprocess.run(
        [str(program), *checks], capture_output=True, text=True, env=env, cwd=cwd, timeout=180
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"the probe printed no report:\n{result.stdout[-2000:]}{result.stderr[-3000:]}")
    return result.returncode, report


def test_frozen_probe_exercises_the_dependencies(
    probe: Path, frozen_env: dict[str, str], tmp_path: Path
) -> None:
    # The earnings chart (pyqtgraph, numpy without its optional submodules, Qt's OpenGL
    # modules), Qt's use of the English-only ICU data, TLS, keystore files (pycryptodome
    # without its public-key code), web3/ENS, wasmtime, keyring's backends, Docker SDK, SQLite.
    code, report = run_probe(probe, frozen_env, tmp_path)
    failed = {name: result for name, result in report.items() if not result["ok"]}
    assert not failed, json.dumps(failed, indent=1)
    assert code == 0
    # Every module of the app is in the bundle and imports there.
    assert report["product_modules"]["imported"] == source_modules()
    # The chart really drew through pyqtgraph, which loaded numpy and QtOpenGL.
    assert report["earnings_chart"]["loaded"] == ["PySide6.QtOpenGL", "numpy", "pyqtgraph"]
    assert report["earnings_chart"]["heights"] == [1.0, 2.0, 3.0]


def test_bootloader_keeps_the_name_it_was_started_by(
    probe: Path, frozen_env: dict[str, str], tmp_path: Path
) -> None:
    # The probe has the bundle's bootloader: laid out like dist/Fizz (Fizz, its hard link
    # fizz-node, _internal) and started through a link like /usr/bin/fizz-app, it shows what
    # installer/entry_linux.py sees (sys.argv[0]: the name as started) and what the app's
    # start-at-login entry writes (sys.executable: the hard link run, a symlink resolved).
    app = tmp_path / "app"
    app.mkdir()
    shutil.copy2(probe, app / "Fizz")
    os.link(app / "Fizz", app / "fizz-node")
    (app / "_internal").symlink_to(BUNDLE / "_internal")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "fizz-app").symlink_to(app / "Fizz")
    real = app.resolve()
    for program, argv0, executable in (
        (app / "Fizz", app / "Fizz", real / "Fizz"),
        (app / "fizz-node", app / "fizz-node", real / "fizz-node"),
        (bin_dir / "fizz-app", bin_dir / "fizz-app", real / "Fizz"),
    ):
        code, report = run_probe(program, frozen_env, tmp_path, "started_as")
        assert code == 0, report
        assert report["started_as"]["argv0"] == str(argv0)
        assert report["started_as"]["executable"] == str(executable), program


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
