"""The command line must work where Qt is absent: it never imports PySide6."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

# Makes every PySide6/shiboken6 import fail, as on a machine without Qt installed.
BLOCK_QT = textwrap.dedent(
    """
    import importlib.abc, sys

    class NoQt(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("PySide6", "shiboken6"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoQt())
    """
)


def _python(code: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FIZZ_HOME": str(home)}
    env.pop("QT_QPA_PLATFORM", None)
    return subprocess.run(
        [sys.executable, "-c", BLOCK_QT + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_cli_runs_check_without_pyside6(fizz_home: Path) -> None:
    result = _python(
        """
        import json
        from fizz_app.cli.main import main
        rc = main(["check", "--json", "--profile", "devnet"])
        assert "PySide6" not in sys.modules, "the CLI imported Qt"
        print("RC", rc, file=sys.stderr)
        """,
        fizz_home,
    )
    assert result.returncode == 0, result.stderr
    assert "RC 0" in result.stderr
    assert '"meets_minimum": true' in result.stdout


def test_version_without_pyside6(fizz_home: Path) -> None:
    result = _python(
        """
        from fizz_app.cli.main import main
        try:
            main(["--version"])
        except SystemExit as done:
            assert done.code == 0
        assert "PySide6" not in sys.modules
        """,
        fizz_home,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("fizz-node ")


def test_blocker_really_blocks_qt(fizz_home: Path) -> None:
    # Guards the two tests above: they prove nothing if PySide6 could still be imported.
    result = _python("import PySide6.QtCore\n", fizz_home)
    assert result.returncode != 0
    assert "No module named 'PySide6" in result.stderr


def test_desktop_entry_explains_missing_qt(fizz_home: Path) -> None:
    result = _python(
        """
        from fizz_app.launcher import main_gui
        sys.exit(main_gui([]))
        """,
        fizz_home,
    )
    assert result.returncode == 1
    assert "PySide6" in result.stderr
    assert "fizz-node --help" in result.stderr
