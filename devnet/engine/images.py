"""The busybox image the devnet's demo jobs, the tests and the benchmarks run.

No registry is reachable on the project's machines, so the image is built here: a root file
system with Debian's static busybox (``busybox-static``), its applets as symlinks and an httpd
document root, imported through the Docker Engine API. The tar is built with fixed times and
owners, so the same busybox always gives the same image, which is reused while its content
label matches.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import docker
import docker.errors

__all__ = [
    "BUSYBOX",
    "IMAGE_REPOSITORY",
    "INDEX_HTML",
    "WEB_SERVER_COMMAND",
    "BusyboxMissing",
    "busybox_image",
]

BUSYBOX = Path("/bin/busybox")
"""Debian's busybox-static: a static binary runs in any root file system."""
APPLETS = (
    "sh ash httpd sleep cat wget nc dd yes ls echo id grep awk ip head tail timeout touch "
    "mkdir rm df du mount true false env kill ps trap printf wc sed tr"
).split()
IMAGE_REPOSITORY = "localhost/fizz-test-busybox"
INDEX_HTML = b"<h1>fizz test page</h1>\n"
WEB_SERVER_COMMAND = ("sh", "-c", "trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait")
"""The demo web service: httpd on port 8080 under a shell that ends on SIGTERM. A process
running as a container's PID 1 ignores SIGTERM unless it installs a handler (httpd does not),
so httpd alone would sit out the node's whole stop grace (5 s) on every lease close."""


class BusyboxMissing(RuntimeError):
    """No static busybox binary to build the image from."""


def rootfs_tar(busybox: Path = BUSYBOX) -> bytes:
    """A minimal root file system: busybox, its applets, an httpd document root at /www."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:

        def add(
            name: str, kind: bytes, data: bytes = b"", mode: int = 0o755, link: str = ""
        ) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime, info.linkname = kind, mode, 0, link
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)

        for folder in ("bin", "etc", "tmp", "scratch", "proc", "sys", "dev", "run", "www", "root"):
            add(folder, tarfile.DIRTYPE, mode=0o1777 if folder == "tmp" else 0o755)
        add("bin/busybox", tarfile.REGTYPE, busybox.read_bytes())
        for applet in APPLETS:
            add(f"bin/{applet}", tarfile.SYMTYPE, link="busybox", mode=0o777)
        add("etc/passwd", tarfile.REGTYPE, b"root:x:0:0:root:/root:/bin/sh\n", mode=0o644)
        add("etc/group", tarfile.REGTYPE, b"root:x:0:\n", mode=0o644)
        add("www/index.html", tarfile.REGTYPE, INDEX_HTML, mode=0o644)
    return out.getvalue()


def busybox_image(client: docker.DockerClient, busybox: Path = BUSYBOX) -> str:
    """Return the tag of the busybox image in ``client``'s engine, importing it when missing.

    Raises:
        BusyboxMissing: ``busybox`` does not exist (Debian: apt-get install busybox-static).
    """
    if not busybox.is_file():
        raise BusyboxMissing(
            f"no static busybox at {busybox} (Debian: apt-get install busybox-static)"
        )
    data = rootfs_tar(busybox)
    digest = hashlib.sha256(data).hexdigest()[:16]
    tag = f"{IMAGE_REPOSITORY}:{digest}"
    try:
        if client.images.get(tag).labels.get("fizz.test.content") == digest:
            return tag
    except docker.errors.ImageNotFound:
        pass
    answer = client.api.import_image_from_data(data, changes=[f"LABEL fizz.test.content={digest}"])
    image_id = json.loads(answer if isinstance(answer, str) else answer.decode())["id"]
    # Podman's import ignores the repository and tag it is given: tag it afterwards.
    client.images.get(image_id).tag(IMAGE_REPOSITORY, digest)
    return tag
