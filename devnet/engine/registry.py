"""A local, read-only container registry, so image pulls can be exercised on machines that
reach no registry at all.

:class:`LocalRegistry` speaks the OCI Distribution API (the Docker Registry HTTP API v2) on
127.0.0.1 over plain HTTP, serving images built here in Python from the busybox root file
system of :mod:`devnet.engine.images` — nothing is downloaded. Pull from it with an engine
told that its address is insecure (:class:`devnet.engine.podman.PodmanService` takes
``insecure_registries``)::

    with LocalRegistry() as registry:
        registry.add_image("fizz/demo-busybox", "1")
        registry.add_image("fizz/big", "1", padding_bytes=8 * 1024**2)
        pull(f"{registry.address}/fizz/demo-busybox:1")

Only what a pull needs is served: ``GET /v2/``, ``GET``/``HEAD`` of manifests (by tag or
digest, as an OCI image manifest or a Docker v2 schema 2 one, following ``Accept``) and of
blobs (with ``Range``), and the registry's JSON errors for anything unknown. ``throttle``
slows blob bodies down, and :meth:`LocalRegistry.close` cuts the connections in flight, so a
test can let a registry die in the middle of a pull.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import re
import socket
import tarfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from .images import BUSYBOX, BusyboxMissing, rootfs_tar

__all__ = [
    "DOCKER_MANIFEST",
    "OCI_MANIFEST",
    "LocalRegistry",
    "RegistryImage",
    "RegistryRequest",
]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
_MEDIA_TYPES = {
    OCI_MANIFEST: (OCI_CONFIG, OCI_LAYER),
    DOCKER_MANIFEST: (DOCKER_CONFIG, DOCKER_LAYER),
}
# The reference grammar of the distribution spec, for repository names and tags.
_NAME = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}"
_DIGEST = r"sha256:[a-f0-9]{64}"
_ROUTE = re.compile(rf"^/v2/(?P<name>{_NAME})/(?P<kind>manifests|blobs)/(?P<ref>{_TAG}|{_DIGEST})$")
_CHUNK = 64 * 1024


def _digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def _canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _padding_tar(size: int, seed: int) -> bytes:
    """A layer holding one file of ``size`` seeded random bytes (incompressible, so its gzip
    is as big as the file and a pull takes many chunks)."""
    out = io.BytesIO()
    data = random.Random(seed).randbytes(size)
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        folder = tarfile.TarInfo("padding")
        folder.type, folder.mode, folder.mtime = tarfile.DIRTYPE, 0o755, 0
        tar.addfile(folder)
        info = tarfile.TarInfo(f"padding/blob-{seed}")
        info.mode, info.mtime, info.size = 0o644, 0, size
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@dataclass(frozen=True)
class RegistryImage:
    """One image as the registry serves it: its manifests (one per media type, by digest),
    the digest of the native one, and its config and layer blobs."""

    name: str
    tag: str
    media_type: str
    manifests: dict[str, bytes]  # media type -> manifest bytes
    config_digest: str
    layer_digests: tuple[str, ...]
    layer_sizes: tuple[int, ...]

    @property
    def digest(self) -> str:
        """The digest of the manifest served when the client accepts the native media type."""
        return _digest(self.manifests[self.media_type])

    @property
    def size(self) -> int:
        """Bytes of its (compressed) layers: about what a pull downloads."""
        return sum(self.layer_sizes)


@dataclass(frozen=True)
class RegistryRequest:
    """One answered request: what was asked and the status code it got."""

    method: str
    path: str
    status: int


class LocalRegistry:
    """A read-only OCI Distribution registry on ``127.0.0.1`` and a free port.

    ``with LocalRegistry() as registry:`` starts it (or call :meth:`start`); leaving the
    context, or :meth:`close`, stops it and cuts every connection still open. Add images with
    :meth:`add_image` at any time; :attr:`address` is what goes before the image name.

    Args:
        throttle: most bytes per second one blob response sends (``None``: as fast as
            possible). Use it to keep a pull in flight long enough to watch or to interrupt.
        busybox: the static busybox the images' root file system is built from.
    """

    def __init__(self, *, throttle: int | None = None, busybox: Path = BUSYBOX) -> None:
        self.throttle = throttle
        self._busybox = busybox
        self._lock = threading.Lock()
        self._images: dict[tuple[str, str], RegistryImage] = {}
        self._manifests: dict[tuple[str, str], tuple[str, bytes]] = {}  # (name, digest)
        self._blobs: dict[str, bytes] = {}
        self._repository_blobs: set[tuple[str, str]] = set()  # (name, digest)
        self._requests: list[RegistryRequest] = []
        self._connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()
        self._rootfs: bytes | None = None

    # ---- lifecycle ---------------------------------------------------------------------------

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``, the registry part of an image reference. Start it first."""
        if self._server is None:
            raise RuntimeError("the registry is not running: start() it first")
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> LocalRegistry:
        """Listen on a free port and serve from a daemon thread; returns ``self``."""
        if self._server is not None:
            return self
        self._closed.clear()
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="local-registry"
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and cut every connection in flight (a blob half sent stays half sent,
        as when a real registry goes away). Safe to call twice."""
        server, self._server = self._server, None
        self._closed.set()
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # the client already hung up
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> LocalRegistry:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    # ---- content -----------------------------------------------------------------------------

    def add_image(
        self,
        name: str,
        tag: str,
        *,
        cmd: tuple[str, ...] = ("sh",),
        padding_bytes: int = 0,
        padding_layers: int = 1,
        media_type: str = OCI_MANIFEST,
    ) -> RegistryImage:
        """Serve ``name:tag``: the busybox root file system as one gzip'd layer, then
        ``padding_layers`` layers sharing ``padding_bytes`` random bytes (so a pull has
        something to show progress for), with ``cmd`` as the image's command.

        ``media_type`` is the manifest served by default (OCI or Docker v2 schema 2); the
        other is served to clients that accept only it. Returns what is served; adding the
        same name and tag again replaces it.

        Raises:
            BusyboxMissing: no static busybox (Debian: apt-get install busybox-static).
            ValueError: a name or tag the distribution spec does not allow, or an unknown
                media type.
        """
        if not re.fullmatch(_NAME, name) or not re.fullmatch(_TAG, tag):
            raise ValueError(f"not a valid repository name and tag: {name}:{tag}")
        if media_type not in _MEDIA_TYPES:
            raise ValueError(f"media_type must be one of {sorted(_MEDIA_TYPES)}")
        tars = [self._busybox_tar()]
        if padding_bytes > 0:
            layers = max(1, padding_layers)
            for index in range(layers):
                size = padding_bytes // layers + (1 if index < padding_bytes % layers else 0)
                # A seed from the name, not hash(): the same image gives the same digests in
                # every process.
                seed = int.from_bytes(hashlib.sha256(f"{name}:{tag}:{index}".encode()).digest()[:4])
                tars.append(_padding_tar(size, seed=seed))
        # mtime=0: the same content always gives the same blob digest.
        layers_gz = [gzip.compress(tar, compresslevel=6, mtime=0) for tar in tars]
        config = _canonical_json(
            {
                "architecture": "amd64",
                "os": "linux",
                "created": "1970-01-01T00:00:00Z",
                "config": {
                    "Cmd": list(cmd),
                    "Env": ["PATH=/bin"],
                    "WorkingDir": "/",
                    "Labels": {"fizz.test.registry": "1"},
                },
                "rootfs": {"type": "layers", "diff_ids": [_digest(tar) for tar in tars]},
                "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "fizz devnet"}]
                * len(tars),
            }
        )
        manifests: dict[str, bytes] = {}
        for manifest_type, (config_type, layer_type) in _MEDIA_TYPES.items():
            manifests[manifest_type] = _canonical_json(
                {
                    "schemaVersion": 2,
                    "mediaType": manifest_type,
                    "config": {
                        "mediaType": config_type,
                        "digest": _digest(config),
                        "size": len(config),
                    },
                    "layers": [
                        {"mediaType": layer_type, "digest": _digest(blob), "size": len(blob)}
                        for blob in layers_gz
                    ],
                }
            )
        image = RegistryImage(
            name=name,
            tag=tag,
            media_type=media_type,
            manifests=manifests,
            config_digest=_digest(config),
            layer_digests=tuple(_digest(blob) for blob in layers_gz),
            layer_sizes=tuple(len(blob) for blob in layers_gz),
        )
        with self._lock:
            self._images[(name, tag)] = image
            for manifest_type, manifest in manifests.items():
                self._manifests[(name, _digest(manifest))] = (manifest_type, manifest)
            for blob in (config, *layers_gz):
                self._blobs[_digest(blob)] = blob
                self._repository_blobs.add((name, _digest(blob)))
        return image

    def remove_image(self, name: str, tag: str) -> None:
        """Stop serving the tag ``name:tag`` (its manifests and blobs stay reachable by
        digest, as in a real registry until garbage collection)."""
        with self._lock:
            self._images.pop((name, tag), None)

    def requests(self) -> list[RegistryRequest]:
        """Every request answered so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def _busybox_tar(self) -> bytes:
        if self._rootfs is None:
            if not self._busybox.is_file():
                raise BusyboxMissing(
                    f"no static busybox at {self._busybox} (Debian: apt-get install busybox-static)"
                )
            self._rootfs = rootfs_tar(self._busybox)
        return self._rootfs

    # ---- used by the request handler ---------------------------------------------------------

    def _record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self._requests.append(RegistryRequest(method, path, status))

    def _track(self, connection: socket.socket, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _find_manifest(self, name: str, reference: str, accept: list[str]) -> tuple[str, bytes]:
        """The manifest's media type and bytes, or raise LookupError with the error code."""
        with self._lock:
            if reference.startswith("sha256:"):
                found = self._manifests.get((name, reference))
                if found is None:
                    raise LookupError("MANIFEST_UNKNOWN", f"no manifest {reference} in {name}")
                return found  # by digest: exactly those bytes, whatever was asked for
            image = self._images.get((name, reference))
            known_name = any(key[0] == name for key in self._images)
        if image is None:
            if not known_name:
                raise LookupError("NAME_UNKNOWN", f"repository {name} is not known")
            raise LookupError("MANIFEST_UNKNOWN", f"no tag {reference} in {name}")
        # No Accept (or */*): the native manifest; else the first acceptable one, native first.
        if not accept or "*/*" in accept or image.media_type in accept:
            return image.media_type, image.manifests[image.media_type]
        for media_type in accept:
            if media_type in image.manifests:
                return media_type, image.manifests[media_type]
        raise LookupError(
            "MANIFEST_UNKNOWN",
            f"{name}:{reference} is served only as {sorted(image.manifests)}",
        )

    def _find_blob(self, name: str, digest: str) -> bytes:
        with self._lock:
            if (name, digest) not in self._repository_blobs:
                raise LookupError("BLOB_UNKNOWN", f"no blob {digest} in {name}")
            return self._blobs[digest]


def _handler_for(registry: LocalRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(_RegistryHandler):
        pass

    Handler.registry = registry
    return Handler


class _RegistryHandler(BaseHTTPRequestHandler):
    registry: LocalRegistry
    protocol_version = "HTTP/1.1"  # keep-alive, as engines expect
    server_version = "fizz-devnet-registry/1"

    def setup(self) -> None:
        super().setup()
        self.registry._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.registry._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass  # requests() keeps the record; stderr stays quiet under pytest

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve(body=True)

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self._serve(body=False)

    def _serve(self, *, body: bool) -> None:
        path = self.path.split("?", 1)[0]
        if path in ("/v2", "/v2/"):
            self._send(200, b"{}", "application/json", body=body)
            return
        route = _ROUTE.match(path)
        if route is None:
            self._error(404, "NAME_UNKNOWN", f"no such endpoint: {path}", body=body)
            return
        name, reference = route["name"], route["ref"]
        try:
            if route["kind"] == "manifests":
                accept = [
                    part.split(";", 1)[0].strip()
                    for header in self.headers.get_all("Accept") or []
                    for part in header.split(",")
                    if part.strip()
                ]
                media_type, manifest = self.registry._find_manifest(name, reference, accept)
                self._send(200, manifest, media_type, body=body, digest=_digest(manifest))
            else:
                if not reference.startswith("sha256:"):
                    self._error(400, "DIGEST_INVALID", f"not a digest: {reference}", body=body)
                    return
                blob = self.registry._find_blob(name, reference)
                self._send_blob(blob, reference, body=body)
        except LookupError as missing:
            code, message = missing.args
            self._error(404, code, message, body=body)

    def _send(
        self, status: int, data: bytes, media_type: str, *, body: bool, digest: str | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(data)))
        if digest is not None:
            self.send_header("Docker-Content-Digest", digest)
            self.send_header("ETag", f'"{digest}"')
        self.end_headers()
        self.registry._record(self.command, self.path, status)
        if body:
            self.wfile.write(data)

    def _error(self, status: int, code: str, message: str, *, body: bool) -> None:
        data = _canonical_json({"errors": [{"code": code, "message": message, "detail": None}]})
        self._send(status, data, "application/json", body=body)

    def _send_blob(self, blob: bytes, digest: str, *, body: bool) -> None:
        start, end = 0, len(blob) - 1
        status = 200
        wanted = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", "").strip())
        if wanted and (wanted[1] or wanted[2]):
            if wanted[1]:
                start = int(wanted[1])
                end = min(end, int(wanted[2])) if wanted[2] else end
            else:  # a suffix: the last N bytes
                start = max(0, len(blob) - int(wanted[2]))
            if start >= len(blob) or start > end:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(blob)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                self.registry._record(self.command, self.path, 416)
                return
            status = 206
        self.send_response(status)
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(blob)}")
        self.send_header("Docker-Content-Digest", digest)
        self.send_header("ETag", f'"{digest}"')
        self.end_headers()
        self.registry._record(self.command, self.path, status)
        if not body:
            return
        view = memoryview(blob)[start : end + 1]
        throttle = self.registry.throttle
        began = time.monotonic()
        sent = 0
        while sent < len(view):
            if self.registry._closed.is_set():
                self.close_connection = True
                return  # the registry went away mid-blob: the client sees a short body
            chunk = view[sent : sent + _CHUNK]
            try:
                self.wfile.write(chunk)
            except OSError:  # the client hung up, or close() cut the connection
                self.close_connection = True
                return
            sent += len(chunk)
            if throttle:
                ahead = sent / throttle - (time.monotonic() - began)
                if ahead > 0:
                    time.sleep(ahead)
