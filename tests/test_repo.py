"""Promises the repository makes to a newcomer: two set-up commands, CI = ``make test``,
and a bootstrap that does nothing the second time."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_has_exactly_the_two_setup_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    setup = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", setup, flags=re.S)
    commands = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    assert [c for c in commands if c] == ["make run", "make test"]


def test_ci_runs_make_test_and_nothing_else() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    # make test, then the frozen app's tests (issue 8: the bundle build is too slow for make test)
    assert lines[-2:] == ["make test", "make test-bundle"]
    assert all(not line.startswith(("pip", "apt", "npm", "python")) for line in lines)


def test_bootstrap_is_a_no_op_when_nothing_changed() -> None:
    # make test has just bootstrapped this checkout; a second run must install nothing.
    result = subprocess.run(
        [str(ROOT / "scripts" / "bootstrap.sh")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "Installing" not in result.stdout + result.stderr
    assert "Creating" not in result.stdout + result.stderr


def test_npm_tools_are_installed_locally() -> None:
    anvil = ROOT / "tools/npm/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
    solc = ROOT / "tools/npm/node_modules/solc/soljson.js"
    assert solc.is_file()
    if anvil.parent.parent.exists():  # the linux-amd64 build; other platforms get their own
        version = subprocess.run([str(anvil), "--version"], capture_output=True, text=True)
        assert version.returncode == 0 and "anvil" in version.stdout.lower()
