"""Runs INSIDE the frozen bundle, never under pytest: installer/fizz.spec freezes this script over
the bundle's own module archive and runtime hooks as build/pyinstaller/probe/fizz-bundle-probe
(Linux), beside a link to dist/Fizz/_internal, so it loads exactly the bundle's modules,
libraries and data. It is never shipped.

It exercises what the spec trims around (numpy's optional submodules, pycryptodome's public-key
code, Qt's OpenGL modules that pyqtgraph imports, the English-only ICU data) and what the app
needs from each dependency, then prints one JSON object: check name -> {"ok": bool, ...}.
``tests/bundle/test_frozen_app.py`` runs it and reads the report. Arguments name the checks to
run (default: all). Exit status 0 when every check passed, 1 otherwise.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

CHECKS: dict[str, Callable[[], dict[str, Any]]] = {}


def check(function: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    CHECKS[function.__name__] = function
    return function


@check
def product_modules() -> dict[str, Any]:
    """Every module of the app that is in the bundle imports (the test compares the list with
    the source tree)."""
    import importlib
    import pkgutil

    import fizz_app
    import gateway_client

    imported: list[str] = []
    failed: dict[str, str] = {}
    for package in (fizz_app, gateway_client):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if info.name.rsplit(".", 1)[-1] == "__main__":  # runs the app when imported
                continue
            try:
                importlib.import_module(info.name)
            except Exception as error:  # noqa: BLE001 - reported, not hidden
                failed[info.name] = f"{type(error).__name__}: {error}"
            else:
                imported.append(info.name)
    return {"ok": not failed, "imported": sorted(imported), "failed": failed}


def _application() -> Any:
    from PySide6.QtWidgets import QApplication

    existing = QApplication.instance()
    return existing if existing is not None else QApplication(["fizz-bundle-probe"])


@check
def earnings_chart() -> dict[str, Any]:
    """The Earnings page's chart draws its bars with pyqtgraph (numpy, QtOpenGL's modules)."""
    from datetime import date

    from fizz_app.core.ledger_types import PeriodTotal
    from fizz_app.gui.widgets.earnings_chart import EarningsChart

    app = _application()
    chart = EarningsChart()
    chart.resize(480, 240)
    chart.show()
    rows = [
        PeriodTotal(date(2026, 11, day), "uSPON", 6, lease_earnings=day * 1_000_000, rewards=0)
        for day in (1, 2, 3)
    ]
    chart.set_totals(rows, "day", "uSPON")
    app.processEvents()
    image = chart.grab().toImage()
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, 200, 7)}
    heights = chart.drawn_heights()
    modules = ("pyqtgraph", "numpy", "PySide6.QtOpenGL")
    loaded = sorted(name for name in modules if name in sys.modules)
    chart.close()
    return {
        "ok": heights == [1.0, 2.0, 3.0] and len(colours) > 2,
        "heights": heights,
        "colours": len(colours),
        "loaded": loaded,
    }


@check
def numpy_core() -> dict[str, Any]:
    """What pyqtgraph computes with: arrays, ufuncs, numpy.linalg (OpenBLAS)."""
    import numpy as np

    matrix = np.array([[2.0, 0.0], [0.0, 4.0]])
    inverse = np.linalg.inv(matrix)
    return {"ok": bool(np.allclose(inverse @ matrix, np.eye(2))), "version": np.__version__}


@check
def icu_through_qt() -> dict[str, Any]:
    """What Qt asks ICU for: collation, locale-aware case mapping, time-zone names, codecs."""
    from functools import cmp_to_key

    from PySide6.QtCore import (
        QByteArray,
        QCollator,
        QLocale,
        QStringConverter,
        QStringDecoder,
        QTimeZone,
    )

    _application()
    order = {}
    for name in ("en_US", "de_DE", "sv_SE"):  # sv_SE: reported, not checked
        collator = QCollator(QLocale(name))
        order[name] = sorted(["zebra", "Äpfel", "apple", "Zoo"], key=cmp_to_key(collator.compare))
    upper_tr = QLocale("tr_TR").toUpper("istanbul")
    upper_en = QLocale("en_US").toUpper("istanbul")
    zone = QTimeZone(QByteArray(b"Europe/Berlin"))
    zone_name = zone.displayName(
        QTimeZone.TimeType.StandardTime, QTimeZone.NameType.LongName, QLocale("en_US")
    )
    ok = (
        # ICU's root collation (a code-point order would put "Zoo" first and "Äpfel" last);
        # Swedish puts "Äpfel" last only with Swedish collation data, which the bundle omits.
        order["en_US"] == ["Äpfel", "apple", "zebra", "Zoo"]
        and order["de_DE"] == order["en_US"]
        and upper_tr == "İSTANBUL"
        and upper_en == "ISTANBUL"
        and zone.isValid()
        and bool(zone_name)
        and QStringDecoder(QStringConverter.Encoding.Utf8).isValid()
    )
    return {
        "ok": ok,
        "order": order,
        "upper_tr": upper_tr,
        "zone_name": zone_name,
        # ICU's conversion tables (Qt's codecs beyond UTF-8/16/32 and Latin-1).
        "codecs": len(QStringConverter.availableCodecs()),
        "windows_1252": QStringDecoder("windows-1252").isValid(),
    }


@check
def tls() -> dict[str, Any]:
    """Python's ssl and Qt's OpenSSL TLS backend load (the gateway and update check use TLS)."""
    import ssl

    from PySide6.QtNetwork import QSslSocket

    _application()
    context = ssl.create_default_context()
    return {
        "ok": context.verify_mode == ssl.CERT_REQUIRED and QSslSocket.supportsSsl(),
        "python": ssl.OPENSSL_VERSION,
        "qt": QSslSocket.sslLibraryVersionString(),
        "qt_backends": QSslSocket.availableBackends(),
    }


@check
def keystore() -> dict[str, Any]:
    """A keystore v3 file round trip (pycryptodome's AES-CTR, scrypt and PBKDF2)."""
    from eth_account import Account

    account = Account.create()
    key = bytes(account.key)
    results = {}
    for kdf, iterations in (("scrypt", 1 << 10), ("pbkdf2", 1000)):
        encrypted = Account.encrypt(key, "correct horse", kdf=kdf, iterations=iterations)
        results[kdf] = bytes(Account.decrypt(encrypted, "correct horse")) == key
    return {"ok": all(results.values()), **results}


@check
def web3_and_ens() -> dict[str, Any]:
    """web3 (with its aiohttp and pydantic imports), ABI encoding, Keccak, ENS normalisation."""
    from ens.utils import normalize_name
    from eth_abi import encode
    from web3 import AsyncWeb3, Web3

    digest = Web3.keccak(text="").hex()
    encoded = encode(["uint256", "address"], [1, "0x" + "11" * 20])
    return {
        "ok": digest.endswith("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
        and len(encoded) == 64
        and normalize_name("Fizz.ETH") == "fizz.eth"
        and AsyncWeb3 is not None,
        "keccak": digest,
    }


@check
def wasm() -> dict[str, Any]:
    """wasmtime's native library compiles and runs a module (the WebAssembly jobs)."""
    from wasmtime import Instance, Module, Store

    store = Store()
    module = Module(
        store.engine,
        '(module (func (export "add") (param i32 i32) (result i32)'
        " local.get 0 local.get 1 i32.add))",
    )
    add = Instance(store, module, []).exports(store)["add"]
    result = add(store, 2, 3)
    return {"ok": result == 5, "result": result}


@check
def keyring_backends() -> dict[str, Any]:
    """keyring's backends are there, found by entry point, and the Secret Service one loads with
    its D-Bus and cryptography stack (whether a Secret Service runs is another test's matter)."""
    from importlib.metadata import entry_points

    import secretstorage.dhcrypto
    from keyring.backends import SecretService

    plugins = sorted(entry.value for entry in entry_points(group="keyring.backends"))
    return {
        "ok": any(value.startswith("keyrings.alt") for value in plugins)
        and SecretService.Keyring.__module__ == "keyring.backends.SecretService"
        and secretstorage.dhcrypto.__name__ == "secretstorage.dhcrypto",
        "plugins": plugins,
    }


@check
def docker_and_sqlite() -> dict[str, Any]:
    """The Docker SDK builds a client (no engine needed for that); SQLite works."""
    import sqlite3

    import docker

    client = docker.DockerClient(base_url="unix:///nonexistent/docker.sock", version="1.44")
    client.close()
    with sqlite3.connect(":memory:") as db:
        value = db.execute("select sqlite_version()").fetchone()[0]
    return {"ok": bool(value), "sqlite": value}


@check
def started_as() -> dict[str, Any]:
    """How the bootloader reports the program it runs (the Linux bundle's entry script picks the
    app or the command line by ``sys.argv[0]``; the start-at-login entry uses
    ``sys.executable``)."""
    return {
        "ok": True,
        "argv0": sys.argv[0],
        "executable": sys.executable,
        "meipass": getattr(sys, "_MEIPASS", None),
    }


def main(argv: list[str]) -> int:
    """Run the checks named in ``argv`` (all of them when none is named)."""
    unknown = sorted(set(argv) - set(CHECKS))
    if unknown:
        print(f"fizz-bundle-probe: no check {unknown}; the checks are {list(CHECKS)}")
        return 2
    report: dict[str, dict[str, Any]] = {}
    for name, function in CHECKS.items():
        if argv and name not in argv:
            continue
        try:
            report[name] = function()
        except Exception:  # noqa: BLE001 - every failure goes into the report
            report[name] = {"ok": False, "error": traceback.format_exc()}
    print(json.dumps(report, indent=1, default=str))
    return 0 if all(result["ok"] for result in report.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
