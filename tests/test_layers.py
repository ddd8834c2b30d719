"""The layer rules of architecture.md 5.2, enforced by import-linter, really bite.

``make test`` runs ``lint-imports`` on the tree; these tests plant one forbidden import in a
copy of the tree and check that the matching contract breaks, so a loosened contract cannot
go unnoticed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _copy_tree(dest: Path) -> Path:
    for package in ("fizz_app", "gateway_client", "devnet"):
        shutil.copytree(
            ROOT / package, dest / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    result = _lint(_copy_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("fizz_app/core/_planted.py", "import PySide6.QtCore", "The core never imports"),
        ("fizz_app/core/_planted.py", "import fizz_app.cli.main", "The core never imports"),
        ("fizz_app/cli/_planted.py", "import fizz_app.gui", "The command line never imports"),
        ("fizz_app/gui/_planted.py", "import psutil", "The GUI goes through the engine"),
        ("fizz_app/gui/_planted.py", "import keyring", "The GUI goes through the engine"),
        ("gateway_client/_planted.py", "import fizz_app.core", "gateway_client stands alone"),
        ("fizz_app/core/state.py", "import pydantic", "Leaf modules of the core"),
        ("fizz_app/cli/_planted.py", "import devnet.cli", "The product never imports the devnet"),
        ("fizz_app/core/chain.py", "import fizz_app.core.wallet", "Core siblings"),
        ("fizz_app/core/node.py", "import gateway_client.client", "only core.tunnel imports"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    tree = _copy_tree(tmp_path)
    target = tree / module
    existing = target.read_text() if target.exists() else '"""Planted by a test."""\n'
    target.write_text(existing + f"\n{line}  # planted by test_layers\n")
    result = _lint(tree)
    assert result.returncode != 0
    broken = [row for row in result.stdout.splitlines() if " BROKEN" in row]
    assert any(contract in row for row in broken), result.stdout
