"""``fizz-node version [--check] [--json]`` against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fizz_app import __version__
from fizz_app.cli.main import main


@pytest.fixture
def feed() -> Iterator[dict[str, object]]:
    """A release feed on 127.0.0.1; set ``feed["body"]`` to what it serves."""
    state: dict[str, object] = {"body": b"{}", "hits": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = state["body"]
            assert isinstance(body, bytes)
            state["hits"] = int(str(state["hits"])) + 1
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}/latest.json"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _serve(feed: dict[str, object], data: object) -> str:
    feed["body"] = json.dumps(data).encode()
    return str(feed["url"])


def test_version_without_check_asks_nobody(
    fizz_home: Path, capsys: pytest.CaptureFixture[str], feed: dict[str, object]
) -> None:
    assert main(["version", "--feed", str(feed["url"])]) == 0
    assert capsys.readouterr().out == f"fizz-node {__version__}\n"
    assert main(["version", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"version": __version__}
    assert feed["hits"] == 0


def test_check_reports_a_newer_release(
    fizz_home: Path, capsys: pytest.CaptureFixture[str], feed: dict[str, object]
) -> None:
    url = _serve(feed, {"latest": "99.1.0", "url": "https://example.org/r/99", "notes": "Big."})
    assert main(["version", "--check", "--feed", url]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [
        f"A newer version, 99.1.0, is available at https://example.org/r/99 "
        f"(you have {__version__}).",
        "Big.",
    ]
    assert main(["version", "--check", "--json", "--feed", url]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["version"] == __version__
    assert data["latest"] == "99.1.0"
    assert data["update_available"] is True
    assert data["feed"] == url


def test_check_up_to_date_through_the_environment(
    fizz_home: Path,
    capsys: pytest.CaptureFixture[str],
    feed: dict[str, object],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FIZZ_UPDATE_FEED", _serve(feed, {"latest": __version__}))
    assert main(["version", "--check"]) == 0
    assert capsys.readouterr().out == (
        f"Fizz Node {__version__} is up to date (newest release: {__version__}).\n"
    )


def test_unreachable_feed_is_exit_1_with_the_reason(
    fizz_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/latest.json"
    assert main(["version", "--check", "--feed", url, "--timeout", "5"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"fizz-node: The update feed at {url} could not be reached (" in captured.err
    assert "internet connection" in captured.err
    assert main(["version", "--check", "--json", "--feed", url, "--timeout", "5"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["version"] == __version__
    assert "could not be reached" in data["error"]


def test_cli_start_up_does_not_import_the_update_check(fizz_home: Path) -> None:
    # urllib.request and http.client come only with `version --check`: start-up stays light.
    code = (
        "import sys\n"
        "from fizz_app.cli.main import build_parser\n"
        "build_parser().parse_args(['version'])\n"
        "names = ('fizz_app.core.updates', 'urllib.request', 'http.client')\n"
        "print(sorted(m for m in names if m in sys.modules))\n"
    )
    env = {**os.environ, "FIZZ_HOME": str(fizz_home)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
