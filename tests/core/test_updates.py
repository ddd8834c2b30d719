"""The update check against a real HTTP server on 127.0.0.1 (no mocks of urllib)."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from fizz_app import __version__
from fizz_app.core import updates
from fizz_app.core.updates import (
    UpdateCheckError,
    check_for_update,
    compare_versions,
    fetch_feed,
    parse_feed,
)


@dataclass
class FeedServer:
    """What the server answers at /feed.json (status, body), and what it was asked."""

    base: str
    status: int = 200
    body: bytes = b""
    delay: float = 0.0
    requests: list[dict[str, str]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{self.base}/feed.json"

    def serve_json(self, data: object) -> None:
        self.status, self.body = 200, json.dumps(data).encode()


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    state = FeedServer(base="")
    stop = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            state.requests.append({"path": self.path, **dict(self.headers.items())})
            if self.path == "/moved":
                self.send_response(302)
                self.send_header("Location", "/feed.json")
                self.end_headers()
                return
            if state.delay:
                stop.wait(state.delay)
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_newer_release_is_reported_with_its_page(feed_server: FeedServer) -> None:
    feed_server.serve_json(
        {"latest": "99.0.0", "url": "https://example.org/fizz/99", "notes": "Faster leases."}
    )
    result = check_for_update(feed_server.url, current="0.1.0")
    assert result.update_available
    assert result.latest == "99.0.0"
    assert result.message == (
        "A newer version, 99.0.0, is available at https://example.org/fizz/99 (you have 0.1.0)."
    )
    assert result.as_dict()["update_available"] is True
    assert result.as_dict()["notes"] == "Faster leases."
    # It says who asks, and asks once: nothing else (no download) happens.
    assert len(feed_server.requests) == 1
    assert feed_server.requests[0]["User-Agent"].startswith(f"fizz-node/{__version__}")


def test_same_or_older_release_is_up_to_date(feed_server: FeedServer) -> None:
    feed_server.serve_json({"latest": "0.1.0"})
    same = check_for_update(feed_server.url, current="0.1.0")
    assert not same.update_available
    assert same.message == "Fizz Node 0.1.0 is up to date (newest release: 0.1.0)."
    feed_server.serve_json({"latest": "0.1.0", "url": "", "notes": ""})
    assert not check_for_update(feed_server.url, current="0.2.0rc1").update_available


def test_the_environment_names_the_feed(
    feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed_server.serve_json({"latest": "0.0.1"})
    monkeypatch.setenv(updates.FEED_URL_ENV, feed_server.url)
    assert updates.feed_url() == feed_server.url
    assert check_for_update().feed_url == feed_server.url
    monkeypatch.delenv(updates.FEED_URL_ENV)
    assert updates.feed_url() == updates.DEFAULT_FEED_URL


def test_redirects_are_followed(feed_server: FeedServer) -> None:
    # GitHub's /releases/latest/download/latest.json answers with a redirect to the asset.
    feed_server.serve_json({"latest": "5.0"})
    assert fetch_feed(f"{feed_server.base}/moved").latest == "5.0"


def test_http_errors_name_the_status(feed_server: FeedServer) -> None:
    feed_server.status, feed_server.body = 404, b"{}"
    with pytest.raises(UpdateCheckError) as caught:
        fetch_feed(feed_server.url)
    assert caught.value.message == (
        f"The update feed at {feed_server.url} answered HTTP 404 (Not Found)."
    )
    assert updates.RELEASES_PAGE in caught.value.remedy


def test_unreachable_feed_says_so() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/feed.json"
    with pytest.raises(UpdateCheckError) as caught:
        fetch_feed(url, timeout=5)
    assert caught.value.message.startswith(f"The update feed at {url} could not be reached (")
    assert "internet connection" in caught.value.remedy


def test_slow_feed_times_out(feed_server: FeedServer) -> None:
    feed_server.serve_json({"latest": "1.0"})
    feed_server.delay = 5
    with pytest.raises(UpdateCheckError) as caught:
        fetch_feed(feed_server.url, timeout=0.5)
    assert "did not answer within 0.5 seconds" in caught.value.message


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (b"<html>nope</html>", "is not valid JSON"),
        (b"[1, 2]", "is not a JSON object"),
        (b'{"url": "https://example.org"}', "names no 'latest' version"),
        (b'{"latest": "soon"}', "names 'soon', which is not a version"),
        (b'{"latest": "1.0", "url": "file:///etc/passwd"}', "not a web address"),
        (b'{"latest": "1.0", "notes": 5}', "notes that are not text"),
    ],
)
def test_bad_feeds_are_refused_by_name(
    feed_server: FeedServer, body: bytes, complaint: str
) -> None:
    feed_server.body = body
    with pytest.raises(UpdateCheckError) as caught:
        fetch_feed(feed_server.url)
    assert complaint in caught.value.message
    assert feed_server.url in caught.value.message


def test_oversized_answer_is_not_a_feed(feed_server: FeedServer) -> None:
    feed_server.body = b'{"latest": "1.0", "notes": "' + b"x" * updates.MAX_FEED_BYTES + b'"}'
    with pytest.raises(UpdateCheckError, match="larger than 64 KiB"):
        fetch_feed(feed_server.url)


def test_only_web_addresses_are_fetched() -> None:
    with pytest.raises(UpdateCheckError, match="is not an http:// or https:// address"):
        fetch_feed("file:///etc/hostname")


def test_parse_feed_strips_and_keeps_fields() -> None:
    info = parse_feed(b'{"latest": " 0.2.0 ", "url": "https://x.org/r", "notes": " n "}', "src")
    assert (info.latest, info.url, info.notes) == ("0.2.0", "https://x.org/r", "n")


ORDERED = [
    "0.1.0.dev1",
    "0.1.0a1",
    "0.1.0a2",
    "0.1.0b1",
    "0.1.0rc1",
    "0.1.0",
    "0.1.0.post1",
    "0.1.1",
    "0.9.1",
    "0.10.0",
    "1.0.0rc2",
    "1.0.0",
    "1.0.1.dev3",
    "1.0.1",
    "10.0",
]


@pytest.mark.parametrize("compare", ["packaging", "fallback"])
def test_versions_order_as_pep_440(compare: str) -> None:
    def cmp(a: str, b: str) -> int:
        if compare == "packaging":
            return compare_versions(a, b)
        ka, kb = updates._fallback_key(a), updates._fallback_key(b)
        return (ka > kb) - (ka < kb)

    for i, older in enumerate(ORDERED):
        for newer in ORDERED[i + 1 :]:
            assert cmp(older, newer) == -1, (older, newer)
            assert cmp(newer, older) == 1, (newer, older)
        assert cmp(older, older) == 0
    assert cmp("1.0", "1.0.0") == 0
    assert cmp("v1.2", "1.2.0") == 0


def test_fallback_refuses_what_is_not_a_version() -> None:
    for bad in ("", "soon", "1..2", "1.0-final-final"):
        with pytest.raises(ValueError):
            updates._fallback_key(bad)
    with pytest.raises(ValueError):
        compare_versions("soon", "1.0")
