"""Is a newer Fizz Node released? Compare this build's version with a small JSON feed.

The feed is one JSON object, published with every release (the release workflow writes it)::

    {"latest": "0.2.0", "url": "https://.../releases/tag/v0.2.0", "notes": "What changed"}

Only ``latest`` is required. :func:`check_for_update` fetches it (``FIZZ_UPDATE_FEED`` or the
``url`` argument name another feed than :data:`DEFAULT_FEED_URL`), compares versions and says
what it found. It never downloads or replaces anything: the user follows the link.

Versions compare as PEP 440 versions (``packaging.version`` where it is installed; otherwise a
careful parser of the same ``N(.N)*[{a|b|rc}N][.postN][.devN]`` forms, so ``0.10.0`` is newer
than ``0.9.1`` and ``1.0.0rc1`` older than ``1.0.0``).
"""

from __future__ import annotations

import json
import os
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from .. import __version__
from .errors import UserFacingError

__all__ = [
    "DEFAULT_FEED_URL",
    "FEED_URL_ENV",
    "RELEASES_PAGE",
    "ReleaseInfo",
    "UpdateCheck",
    "UpdateCheckError",
    "check_for_update",
    "compare_versions",
    "feed_url",
    "fetch_feed",
    "parse_feed",
]

RELEASES_PAGE = "https://github.com/fizz-node/fizz-node-desktop/releases"
"""Where every release is listed (said when the feed cannot be reached)."""
DEFAULT_FEED_URL = f"{RELEASES_PAGE}/latest/download/latest.json"
"""The feed of the newest release: ``latest.json``, an asset of every published release."""
FEED_URL_ENV = "FIZZ_UPDATE_FEED"
"""Environment variable naming another feed (a mirror, a test server)."""
MAX_FEED_BYTES = 64 * 1024
"""A feed is a few hundred bytes; anything much larger is not a feed."""
DEFAULT_TIMEOUT = 10.0

_USER_AGENT = f"fizz-node/{__version__} (update check)"


class UpdateCheckError(UserFacingError):
    """The feed could not be fetched or read (the message says which, and where)."""


@dataclass(frozen=True)
class ReleaseInfo:
    """What the feed says about the newest release."""

    latest: str
    url: str
    notes: str


@dataclass(frozen=True)
class UpdateCheck:
    """The outcome of comparing ``current`` with the feed's newest release."""

    current: str
    latest: str
    url: str
    notes: str
    feed_url: str

    @property
    def update_available(self) -> bool:
        """Whether the feed names a newer version than this one."""
        return compare_versions(self.latest, self.current) > 0

    @property
    def message(self) -> str:
        """One line for the user: up to date, or where the newer version is."""
        if not self.update_available:
            return f"Fizz Node {self.current} is up to date (newest release: {self.latest})."
        where = self.url or RELEASES_PAGE
        return f"A newer version, {self.latest}, is available at {where} (you have {self.current})."

    def as_dict(self) -> dict[str, Any]:
        """The outcome as plain JSON-ready data."""
        return {
            "version": self.current,
            "latest": self.latest,
            "update_available": self.update_available,
            "url": self.url,
            "notes": self.notes,
            "feed": self.feed_url,
            "message": self.message,
        }


# ---- Versions ----------------------------------------------------------------------------------

_VERSION = re.compile(
    r"""^v?(?P<release>[0-9]+(?:\.[0-9]+)*)
        (?:[-_.]?(?P<pre>a|alpha|b|beta|c|rc|pre|preview)[-_.]?(?P<pre_n>[0-9]+)?)?
        (?:[-_.]?(?:post|rev|r)[-_.]?(?P<post>[0-9]+))?
        (?:[-_.]?(?P<dev_tag>dev)[-_.]?(?P<dev>[0-9]+)?)?
        (?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?$""",
    re.VERBOSE | re.IGNORECASE,
)
_PRE_RANK = {"a": 0, "alpha": 0, "b": 1, "beta": 1, "c": 2, "rc": 2, "pre": 2, "preview": 2}
_INF = float("inf")

VersionKey = tuple[tuple[int, ...], tuple[float, float], float, float]


def _fallback_key(version: str) -> VersionKey:
    """A sort key for a PEP 440 public version (local labels are ignored).

    Order within one release: ``.devN`` < ``aN`` < ``bN`` < ``rcN`` < the release < ``.postN``.

    Raises:
        ValueError: ``version`` is not such a version.
    """
    match = _VERSION.match(version.strip())
    if match is None:
        raise ValueError(f"not a version: {version!r}")
    release = tuple(int(part) for part in match["release"].split("."))
    while len(release) > 1 and release[-1] == 0:  # 1.0 == 1.0.0
        release = release[:-1]
    post = float(match["post"]) if match["post"] is not None else -_INF
    dev = float(match["dev"] or 0) if match["dev_tag"] is not None else _INF
    if match["pre"] is not None:
        pre: tuple[float, float] = (_PRE_RANK[match["pre"].lower()], float(match["pre_n"] or 0))
    elif dev != _INF and post == -_INF:
        pre = (-_INF, -_INF)  # 1.0.dev1 sorts before 1.0a1
    else:
        pre = (_INF, _INF)
    return release, pre, post, dev


def _packaging_compare(left: str, right: str) -> int | None:
    """Compare with ``packaging.version`` where it is installed; ``None`` where it is not."""
    try:
        from packaging.version import InvalidVersion, Version
    except ImportError:
        return None
    try:
        a, b = Version(left), Version(right)
    except InvalidVersion as error:
        raise ValueError(str(error)) from None
    return (a > b) - (a < b)


def compare_versions(left: str, right: str) -> int:
    """Return -1, 0 or 1 as ``left`` is older than, the same as, or newer than ``right``.

    Raises:
        ValueError: either is not a version.
    """
    result = _packaging_compare(left, right)
    if result is not None:
        return result
    a, b = _fallback_key(left), _fallback_key(right)
    return (a > b) - (a < b)


# ---- The feed ----------------------------------------------------------------------------------


def feed_url() -> str:
    """The feed to ask: ``FIZZ_UPDATE_FEED`` when set, else :data:`DEFAULT_FEED_URL`."""
    return os.environ.get(FEED_URL_ENV, "").strip() or DEFAULT_FEED_URL


def _is_web_url(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def parse_feed(data: bytes, source: str) -> ReleaseInfo:
    """Read a feed's bytes fetched from ``source`` (named in errors).

    Raises:
        UpdateCheckError: not JSON, not an object, or ``latest``/``url``/``notes`` are wrong.
    """
    remedy = "The feed is damaged or is not a Fizz Node update feed; try again later."
    try:
        feed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UpdateCheckError(f"The update feed at {source} is not valid JSON.", remedy) from None
    if not isinstance(feed, dict):
        raise UpdateCheckError(f"The update feed at {source} is not a JSON object.", remedy)
    latest, url, notes = feed.get("latest"), feed.get("url", ""), feed.get("notes", "")
    if not isinstance(latest, str) or not latest.strip():
        raise UpdateCheckError(f"The update feed at {source} names no 'latest' version.", remedy)
    try:
        compare_versions(latest, "0")
    except ValueError:
        raise UpdateCheckError(
            f"The update feed at {source} names {latest!r}, which is not a version.", remedy
        ) from None
    if not isinstance(url, str) or (url and not _is_web_url(url)):
        raise UpdateCheckError(
            f"The update feed at {source} gives a download page that is not a web address.",
            remedy,
        )
    if not isinstance(notes, str):
        raise UpdateCheckError(f"The update feed at {source} has notes that are not text.", remedy)
    return ReleaseInfo(latest=latest.strip(), url=url, notes=notes.strip())


def _tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    try:  # a frozen app on macOS (and some Linux) finds no system CA store: use certifi's too
        import certifi
    except ImportError:
        return context
    context.load_verify_locations(cafile=certifi.where())
    return context


def fetch_feed(url: str, *, timeout: float = DEFAULT_TIMEOUT) -> ReleaseInfo:
    """Fetch and read the feed at ``url`` (http or https only).

    Raises:
        UpdateCheckError: the address is not a web address, the server cannot be reached or
            answers an error, the answer is too large, or the feed is invalid.
    """
    if not _is_web_url(url):
        raise UpdateCheckError(
            f"The update feed address {url!r} is not an http:// or https:// address.",
            f"Set {FEED_URL_ENV} to a web address, or unset it to use the project's feed.",
        )
    remedy = (
        "Check the internet connection and try again later; releases are listed at "
        f"{RELEASES_PAGE}."
    )
    request = urllib.request.Request(
        url, headers={"User-Agent": _USER_AGENT, "Accept": "application/json"}
    )
    context = _tls_context() if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            data = response.read(MAX_FEED_BYTES + 1)
    except urllib.error.HTTPError as error:
        raise UpdateCheckError(
            f"The update feed at {url} answered HTTP {error.code} ({error.reason}).", remedy
        ) from None
    except urllib.error.URLError as error:
        reason = error.reason
        text = reason.strerror if isinstance(reason, OSError) and reason.strerror else reason
        raise UpdateCheckError(
            f"The update feed at {url} could not be reached ({text}).", remedy
        ) from None
    except TimeoutError:
        raise UpdateCheckError(
            f"The update feed at {url} did not answer within {timeout:g} seconds.", remedy
        ) from None
    except (OSError, ValueError) as error:  # a connection reset mid-answer, a bad port
        raise UpdateCheckError(
            f"The update feed at {url} could not be read ({type(error).__name__}: {error}).",
            remedy,
        ) from None
    if len(data) > MAX_FEED_BYTES:
        raise UpdateCheckError(
            f"The update feed at {url} is larger than {MAX_FEED_BYTES // 1024} KiB; "
            "it is not a Fizz Node update feed.",
            remedy,
        )
    return parse_feed(data, url)


def check_for_update(
    url: str | None = None, *, current: str = __version__, timeout: float = DEFAULT_TIMEOUT
) -> UpdateCheck:
    """Fetch the feed (``url``, else :func:`feed_url`) and compare it with ``current``.

    Raises:
        UpdateCheckError: see :func:`fetch_feed`.
    """
    source = url or feed_url()
    release = fetch_feed(source, timeout=timeout)
    return UpdateCheck(
        current=current,
        latest=release.latest,
        url=release.url,
        notes=release.notes,
        feed_url=source,
    )
