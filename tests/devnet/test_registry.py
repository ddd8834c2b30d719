"""The devnet's local registry over real HTTP (urllib): the Distribution API a pull needs."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import socket
import tarfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message

import pytest

from devnet.engine.images import BUSYBOX
from devnet.engine.registry import DOCKER_MANIFEST, OCI_MANIFEST, LocalRegistry, RegistryImage

pytestmark = pytest.mark.skipif(
    not BUSYBOX.is_file(), reason=f"no static busybox at {BUSYBOX} (apt-get install busybox-static)"
)

MIB = 1024**2


@pytest.fixture(scope="module")
def registry() -> Iterator[LocalRegistry]:
    with LocalRegistry() as running:
        running.add_image("fizz/demo-busybox", "1", cmd=("echo", "hi"))
        running.add_image("fizz/docker-style", "2", media_type=DOCKER_MANIFEST)
        yield running


def fetch(
    registry: LocalRegistry,
    path: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
) -> tuple[int, Message, bytes]:
    request = urllib.request.Request(
        f"http://{registry.address}{path}", method=method, headers=headers or {}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def test_the_base_endpoint_says_it_speaks_registry_v2(registry: LocalRegistry) -> None:
    assert registry.address.startswith("127.0.0.1:")
    status, headers, body = fetch(registry, "/v2/")
    assert status == 200
    assert headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert json.loads(body) == {}


def test_a_manifest_by_tag_is_oci_by_default_with_its_digest(registry: LocalRegistry) -> None:
    status, headers, body = fetch(registry, "/v2/fizz/demo-busybox/manifests/1")
    assert status == 200
    assert headers["Content-Type"] == OCI_MANIFEST
    assert headers["Docker-Content-Digest"] == sha256(body)
    assert int(headers["Content-Length"]) == len(body)
    manifest = json.loads(body)
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == OCI_MANIFEST
    assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert [layer["mediaType"] for layer in manifest["layers"]] == [
        "application/vnd.oci.image.layer.v1.tar+gzip"
    ]


def test_accept_chooses_the_manifest_media_type(registry: LocalRegistry) -> None:
    path = "/v2/fizz/demo-busybox/manifests/1"
    _, oci_headers, oci = fetch(registry, path, headers={"Accept": OCI_MANIFEST})
    _, docker_headers, docker_v2 = fetch(
        registry, path, headers={"Accept": f"{DOCKER_MANIFEST}, application/json;q=0.5"}
    )
    assert oci_headers["Content-Type"] == OCI_MANIFEST
    assert docker_headers["Content-Type"] == DOCKER_MANIFEST
    assert json.loads(docker_v2)["mediaType"] == DOCKER_MANIFEST
    # Both describe the same blobs: only the media types differ.
    oci_manifest, docker_manifest = json.loads(oci), json.loads(docker_v2)
    assert oci_manifest["config"]["digest"] == docker_manifest["config"]["digest"]
    assert [layer["digest"] for layer in oci_manifest["layers"]] == [
        layer["digest"] for layer in docker_manifest["layers"]
    ]
    assert docker_headers["Docker-Content-Digest"] == sha256(docker_v2) != sha256(oci)
    # An image added as Docker v2 schema 2 is served so by default, and as OCI when asked.
    _, headers, _ = fetch(registry, "/v2/fizz/docker-style/manifests/2")
    assert headers["Content-Type"] == DOCKER_MANIFEST
    _, headers, _ = fetch(
        registry, "/v2/fizz/docker-style/manifests/2", headers={"Accept": OCI_MANIFEST}
    )
    assert headers["Content-Type"] == OCI_MANIFEST
    # Neither accepted: the registry's "manifest unknown", never a format the client refuses.
    status, _, body = fetch(registry, path, headers={"Accept": "application/x-nothing"})
    assert status == 404
    assert json.loads(body)["errors"][0]["code"] == "MANIFEST_UNKNOWN"


def test_a_manifest_by_digest_gives_exactly_those_bytes(registry: LocalRegistry) -> None:
    _, headers, body = fetch(
        registry, "/v2/fizz/demo-busybox/manifests/1", headers={"Accept": DOCKER_MANIFEST}
    )
    digest = headers["Docker-Content-Digest"]
    status, by_digest_headers, by_digest = fetch(
        registry, f"/v2/fizz/demo-busybox/manifests/{digest}", headers={"Accept": OCI_MANIFEST}
    )
    assert status == 200
    assert by_digest == body
    assert by_digest_headers["Content-Type"] == DOCKER_MANIFEST
    assert by_digest_headers["Docker-Content-Digest"] == digest


def test_head_answers_headers_without_a_body(registry: LocalRegistry) -> None:
    _, get_headers, manifest = fetch(registry, "/v2/fizz/demo-busybox/manifests/1")
    status, headers, body = fetch(registry, "/v2/fizz/demo-busybox/manifests/1", method="HEAD")
    assert (status, body) == (200, b"")
    assert headers["Docker-Content-Digest"] == get_headers["Docker-Content-Digest"]
    assert int(headers["Content-Length"]) == len(manifest)
    layer = json.loads(manifest)["layers"][0]
    status, headers, body = fetch(
        registry, f"/v2/fizz/demo-busybox/blobs/{layer['digest']}", method="HEAD"
    )
    assert (status, body) == (200, b"")
    assert int(headers["Content-Length"]) == layer["size"]
    assert headers["Docker-Content-Digest"] == layer["digest"]
    status, _, body = fetch(registry, "/v2/fizz/demo-busybox/manifests/nope", method="HEAD")
    assert (status, body) == (404, b"")


def test_blobs_are_the_config_and_the_gzipped_busybox_root(registry: LocalRegistry) -> None:
    _, _, body = fetch(registry, "/v2/fizz/demo-busybox/manifests/1")
    manifest = json.loads(body)
    status, headers, config_bytes = fetch(
        registry, f"/v2/fizz/demo-busybox/blobs/{manifest['config']['digest']}"
    )
    assert status == 200
    assert sha256(config_bytes) == manifest["config"]["digest"]
    assert len(config_bytes) == manifest["config"]["size"] == int(headers["Content-Length"])
    config = json.loads(config_bytes)
    assert (config["architecture"], config["os"]) == ("amd64", "linux")
    assert config["config"]["Cmd"] == ["echo", "hi"]
    (layer,) = manifest["layers"]
    status, headers, blob = fetch(registry, f"/v2/fizz/demo-busybox/blobs/{layer['digest']}")
    assert status == 200
    assert sha256(blob) == layer["digest"] == headers["Docker-Content-Digest"]
    assert len(blob) == layer["size"]
    tar = gzip.decompress(blob)
    assert config["rootfs"] == {"type": "layers", "diff_ids": [sha256(tar)]}
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        names = archive.getnames()
    assert "bin/busybox" in names
    assert "bin/sh" in names


def test_range_requests_get_partial_content(registry: LocalRegistry) -> None:
    _, _, body = fetch(registry, "/v2/fizz/demo-busybox/manifests/1")
    layer = json.loads(body)["layers"][0]
    path = f"/v2/fizz/demo-busybox/blobs/{layer['digest']}"
    _, _, whole = fetch(registry, path)
    status, headers, part = fetch(registry, path, headers={"Range": "bytes=10-99"})
    assert status == 206
    assert part == whole[10:100]
    assert headers["Content-Range"] == f"bytes 10-99/{len(whole)}"
    status, _, tail = fetch(registry, path, headers={"Range": "bytes=100-"})
    assert (status, tail) == (206, whole[100:])
    status, _, suffix = fetch(registry, path, headers={"Range": "bytes=-7"})
    assert (status, suffix) == (206, whole[-7:])
    status, headers, _ = fetch(registry, path, headers={"Range": f"bytes={len(whole)}-"})
    assert status == 416
    assert headers["Content-Range"] == f"bytes */{len(whole)}"


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/v2/fizz/nobody/manifests/1", "NAME_UNKNOWN"),
        ("/v2/fizz/demo-busybox/manifests/2", "MANIFEST_UNKNOWN"),
        (f"/v2/fizz/demo-busybox/manifests/sha256:{'0' * 64}", "MANIFEST_UNKNOWN"),
        (f"/v2/fizz/demo-busybox/blobs/sha256:{'0' * 64}", "BLOB_UNKNOWN"),
        ("/v2/_catalog", "NAME_UNKNOWN"),
    ],
)
def test_unknown_things_get_404_with_the_registry_error_json(
    registry: LocalRegistry, path: str, code: str
) -> None:
    status, headers, body = fetch(registry, path)
    assert status == 404
    assert headers["Content-Type"] == "application/json"
    assert headers["Docker-Distribution-API-Version"] == "registry/2.0"
    (error,) = json.loads(body)["errors"]
    assert error["code"] == code
    assert error["message"]


def test_a_blob_is_only_served_in_a_repository_that_has_it(registry: LocalRegistry) -> None:
    _, _, body = fetch(registry, "/v2/fizz/demo-busybox/manifests/1")
    config_digest = json.loads(body)["config"]["digest"]
    status, _, error = fetch(registry, f"/v2/fizz/docker-style/blobs/{config_digest}")
    assert status == 404
    assert json.loads(error)["errors"][0]["code"] == "BLOB_UNKNOWN"


def test_padding_layers_make_a_bigger_image_with_stable_digests() -> None:
    with LocalRegistry() as first, LocalRegistry() as second:
        big: RegistryImage = first.add_image(
            "fizz/big", "1", padding_bytes=3 * MIB, padding_layers=3
        )
        again = second.add_image("fizz/big", "1", padding_bytes=3 * MIB, padding_layers=3)
        assert len(big.layer_digests) == 4
        assert big.size > 3 * MIB  # random bytes do not compress
        assert big.digest == again.digest  # the same image every time, in every process
        _, headers, _ = fetch(first, f"/v2/fizz/big/blobs/{big.layer_digests[1]}", method="HEAD")
        assert int(headers["Content-Length"]) == big.layer_sizes[1] > MIB


def test_close_cuts_a_blob_in_flight_and_stops_listening() -> None:
    registry = LocalRegistry(throttle=512 * 1024).start()
    try:
        image = registry.add_image("fizz/big", "1", padding_bytes=4 * MIB)
        host, port = registry.address.split(":")
        received = bytearray()

        def download() -> None:
            url = f"http://{registry.address}/v2/fizz/big/blobs/{image.layer_digests[1]}"
            # read(n) returns what arrived until the cut: the body comes up short of its
            # Content-Length, which is how a client notices a registry that went away.
            with urllib.request.urlopen(url, timeout=10) as answer:
                while chunk := answer.read(64 * 1024):
                    received.extend(chunk)

        reader = threading.Thread(target=download)
        reader.start()
        deadline = time.monotonic() + 10
        while len(received) < 256 * 1024 and time.monotonic() < deadline:
            time.sleep(0.02)
        started = time.monotonic()
        registry.close()
        reader.join(timeout=10)
        assert not reader.is_alive()
        assert time.monotonic() - started < 5
        assert 256 * 1024 <= len(received) < image.layer_sizes[1]
        with pytest.raises(OSError), socket.create_connection((host, int(port)), timeout=2):
            pass
        with pytest.raises(RuntimeError, match="not running"):
            _ = registry.address
    finally:
        registry.close()
