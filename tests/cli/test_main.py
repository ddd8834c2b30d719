"""``fizz-node``: exit codes, the JSON shape of ``check``, and readable errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fizz_app import __version__
from fizz_app.cli.main import main

CHECK_KEYS = {"cpu", "memory", "storage", "gpus", "os", "container_engine", "checks"}


def _run(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """Run the installed console script, as a user would."""
    script = Path(sys.executable).with_name("fizz-node")
    env = {**os.environ, "FIZZ_HOME": str(home)}
    return subprocess.run([str(script), *args], capture_output=True, text=True, env=env, timeout=60)


def test_version(fizz_home: Path) -> None:
    result = _run("--version", home=fizz_home)
    assert result.returncode == 0
    assert result.stdout.strip() == f"fizz-node {__version__}"
    assert not fizz_home.exists()  # --version touches nothing


def test_check_json_devnet_passes(fizz_home: Path) -> None:
    result = _run("check", "--json", "--profile", "devnet", home=fizz_home)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert CHECK_KEYS <= data.keys()
    assert data["meets_minimum"] is True
    assert data["profile"] == "devnet"
    assert [c["name"] for c in data["checks"]] == [
        "cpu",
        "memory",
        "storage",
        "gpu",
        "os",
        "container_engine",
        "bandwidth",
    ]
    for check in data["checks"]:
        assert set(check) == {"name", "status", "detail", "remedy"}
        assert check["status"] in {"pass", "warn", "fail"}
    assert data["cpu"]["threads"] == os.cpu_count()
    assert isinstance(data["gpus"], list)
    bandwidth = next(c for c in data["checks"] if c["name"] == "bandwidth")
    assert bandwidth["status"] == "warn" and "Not measured" in bandwidth["detail"]


def test_check_json_real_network_fails_here_with_failing_checks_named(fizz_home: Path) -> None:
    if (os.cpu_count() or 0) >= 8:
        pytest.skip("this machine has 8+ CPU threads, so the cpu check would pass")
    result = _run("check", "--json", "--profile", "spheron-fizz", home=fizz_home)
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["meets_minimum"] is False
    failed = {c["name"]: c for c in data["checks"] if c["status"] == "fail"}
    assert "cpu" in failed
    assert "needs at least 8" in failed["cpu"]["detail"]
    assert failed["cpu"]["remedy"]


def test_check_table_is_readable(
    fizz_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["check", "--profile", "devnet"]) == 0
    out = capsys.readouterr().out
    assert "System check against the Local devnet minimums" in out
    assert "PASS  CPU" in out
    assert "This machine meets the Local devnet minimums." in out
    assert "\033[" not in out  # no colour codes when not a terminal


def test_check_uses_the_settings_profile_by_default(
    fizz_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fizz_home.mkdir(parents=True)
    (fizz_home / "settings.json").write_text(
        json.dumps({"schema_version": 1, "requirements_profile": "spheron-fizz"})
    )
    main(["check", "--json"])
    assert json.loads(capsys.readouterr().out)["profile"] == "spheron-fizz"


def test_unknown_profile_is_a_usage_error(fizz_home: Path) -> None:
    result = _run("check", "--profile", "nope", home=fizz_home)
    assert result.returncode == 2
    assert "Unknown requirement profile 'nope'" in result.stderr
    assert "devnet, spheron-fizz" in result.stderr
    assert result.stdout == ""


def test_bad_arguments_and_no_command_are_usage_errors(fizz_home: Path) -> None:
    assert _run("check", "--bogus", home=fizz_home).returncode == 2
    assert _run("frobnicate", home=fizz_home).returncode == 2
    result = _run(home=fizz_home)
    assert result.returncode == 2
    assert "check" in result.stdout


def test_bad_settings_file_is_named_and_kept(fizz_home: Path) -> None:
    fizz_home.mkdir(parents=True)
    settings = fizz_home / "settings.json"
    settings.write_text('{"schema_version": 1, "node": {"gateway_id": 0}}')
    result = _run("check", home=fizz_home)
    assert result.returncode == 2
    assert "node.gateway_id" in result.stderr
    assert "left untouched" in result.stderr
    assert "Traceback" not in result.stderr
    assert settings.read_text() == '{"schema_version": 1, "node": {"gateway_id": 0}}'


def test_a_bad_rpc_address_in_the_settings_is_named_without_its_key(fizz_home: Path) -> None:
    fizz_home.mkdir(parents=True)
    key, password = "Abc123Def456Ghi789Jkl012Mno345Pq", "sekret-pass"
    # A space slipped in while pasting: the file cannot be used, and the error quotes it.
    bad = f"https://ada:{password}@base-mainnet.g.alchemy.com/v2/ {key}?apikey=TOPSECRET"
    (fizz_home / "settings.json").write_text(json.dumps({"schema_version": 2, "rpc_url": bad}))
    for command in (("check",), ("limits", "show", "--json"), ("pricing", "show")):
        result = _run(*command, home=fizz_home)
        assert result.returncode == 2, result
        assert "'rpc_url'" in result.stderr and "base-mainnet.g.alchemy.com" in result.stderr
        output = result.stdout + result.stderr
        assert not any(secret in output for secret in (key, password, "TOPSECRET")), output
    log_text = (fizz_home / "logs" / "fizz-node.log").read_text()
    assert not any(secret in log_text for secret in (key, password, "TOPSECRET"))


def test_check_logs_to_the_data_folder(fizz_home: Path) -> None:
    assert _run("check", "--json", "--profile", "devnet", home=fizz_home).returncode == 0
    log_text = (fizz_home / "logs" / "fizz-node.log").read_text()
    assert "hardware probed in" in log_text


def test_broken_pipe_is_quiet(fizz_home: Path) -> None:
    script = Path(sys.executable).with_name("fizz-node")
    env = {**os.environ, "FIZZ_HOME": str(fizz_home)}
    result = subprocess.run(
        f"'{script}' check --json --profile devnet | head -c 1",
        shell=True,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert "Traceback" not in result.stderr
    assert "BrokenPipeError" not in result.stderr


def test_starting_the_cli_imports_no_chain_or_wallet_libraries(fizz_home: Path) -> None:
    # web3 and eth_account cost about half a second: only the commands that need them may
    # import them, so `fizz-node check` and `--version` stay fast (benchmarks/check.py).
    code = (
        "import sys\n"
        "from fizz_app.cli.main import build_parser\n"
        "build_parser().parse_args(['check'])\n"
        "names = ('web3', 'eth_account', 'keyring', 'docker')\n"
        "heavy = sorted(m for m in names if m in sys.modules)\n"
        "print(heavy)\n"
    )
    env = {**os.environ, "FIZZ_HOME": str(fizz_home)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
