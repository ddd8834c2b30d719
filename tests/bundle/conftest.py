"""Fixtures for the tests of the frozen app in dist/ (``make test-bundle`` builds it first).

They run the bundle's executables, never the source tree: a clean environment (no PYTHONPATH,
no virtual environment), a temporary HOME and FIZZ_HOME, and a working directory outside the
repository.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from fizz_app import __version__

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"
BUNDLE = DIST / "Fizz"
PROBE = ROOT / "build" / "pyinstaller" / "probe" / "fizz-bundle-probe"
"""tests/bundle/frozen_probe.py frozen over the bundle's modules, beside a link to its
_internal/ (installer/fizz.spec builds it on Linux; it is never shipped)."""

BUDGET_UNPACKED = 220_000_000
"""Bytes (decimal megabytes, as du --si counts them) the unpacked bundle may take: issue 8."""
BUDGET_TARBALL = 90_000_000

Frozen = Callable[..., subprocess.CompletedProcess[str]]


def assert_each_name_on_path_runs_its_program(
    cli: Path, app: Path, frozen_env: dict[str, str], folder: Path
) -> None:
    """Link ``cli`` and ``app`` into ``folder``/bin as ``fizz-node`` and ``fizz-app`` (the names
    the .deb puts in /usr/bin), run each by that name from PATH with ``--version`` in
    ``frozen_env``, and assert that each says it is what its name says: the command line
    (``fizz-node X``) and the desktop app (``Fizz Node X``), at this version."""
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    (bin_dir / "fizz-node").symlink_to(cli)
    (bin_dir / "fizz-app").symlink_to(app)
    env = {**frozen_env, "PATH": f"{bin_dir}{os.pathsep}{frozen_env['PATH']}"}
    for name, expected in (("fizz-node", "fizz-node"), ("fizz-app", "Fizz Node")):
        result = subprocess.run(
            [name, "--version"], capture_output=True, text=True, env=env, cwd=folder, timeout=60
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"{expected} {__version__}", name


@pytest.fixture(scope="session")
def bundle() -> Path:
    """The one-folder bundle; fails (never skips) when it was not built."""
    for name in ("Fizz", "fizz-node"):
        if not os.access(BUNDLE / name, os.X_OK):
            pytest.fail(f"{BUNDLE / name} is missing: build the bundle first (make bundle)")
    return BUNDLE


@pytest.fixture
def frozen_env(tmp_path: Path) -> dict[str, str]:
    """A clean environment for the frozen app: only what a desktop session would give it."""
    home = tmp_path / "home"
    for sub in (".config", ".local/share", ".cache"):
        (home / sub).mkdir(parents=True)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_RUNTIME_DIR": str(runtime),
        "FIZZ_HOME": str(tmp_path / "fizz-home"),
        "QT_QPA_PLATFORM": "offscreen",
        "LANG": "C.UTF-8",
    }


@pytest.fixture
def frozen(bundle: Path, frozen_env: dict[str, str], tmp_path: Path) -> Frozen:
    """Run one of the bundle's executables: ``frozen("fizz-node", "check", env={...})``."""

    def run(
        program: str,
        *args: str,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(bundle / program), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env={**frozen_env, **(env or {})},
            cwd=tmp_path,
            timeout=timeout,
        )

    return run
