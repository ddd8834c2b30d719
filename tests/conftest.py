"""Fixtures shared by every test package."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import docker
import pytest

if TYPE_CHECKING:
    from devnet.engine.registry import LocalRegistry

pytest_plugins = ["tests.chain_fixtures"]


@pytest.fixture
def fizz_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data folder used as FIZZ_HOME for the test."""
    home = tmp_path / "fizz-home"
    monkeypatch.setenv("FIZZ_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def podman_socket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Docker Engine API served by Podman on a private socket; yields its URL.

    It may pull over plain HTTP from any registry on 127.0.0.1 (any port), so the
    ``local_registry`` fixture, or a ``LocalRegistry`` a test starts itself, can be pulled from.
    Skips (saying why) where podman is not installed; ``make test`` installs it on Debian.
    """
    from devnet.engine.podman import PodmanService, PodmanUnavailable

    if shutil.which("podman") is None:
        pytest.skip("podman is not installed here, so no Docker Engine API can run")
    # A location without a port matches every port of that host in registries.conf.
    service = PodmanService(tmp_path_factory.mktemp("podman"), insecure_registries=["127.0.0.1"])
    try:
        url = service.__enter__()
    except PodmanUnavailable as error:
        pytest.fail(str(error))
    try:
        yield url
    finally:
        service.stop()


@pytest.fixture(scope="session")
def engine_client(podman_socket: str) -> Iterator[docker.DockerClient]:
    """A plain SDK client on the test engine, for looking behind the runner's back."""
    client = docker.DockerClient(base_url=podman_socket, timeout=60)
    yield client
    client.close()


@pytest.fixture(scope="session")
def busybox_image(engine_client: docker.DockerClient) -> str:
    """Tag of the busybox image built on this machine and imported through the Docker API
    (reused while its content is the same; never removed, other sessions may share it)."""
    from devnet.engine.images import BusyboxMissing
    from devnet.engine.images import busybox_image as build_busybox_image

    try:
        return build_busybox_image(engine_client)
    except BusyboxMissing as error:
        pytest.skip(str(error))


@pytest.fixture(scope="session")
def local_registry() -> Iterator[LocalRegistry]:
    """A read-only OCI registry on 127.0.0.1 (``devnet.engine.registry``), shared by the
    session and stopped at its end. Pull ``f"{local_registry.address}/NAME:TAG"`` through
    ``podman_socket``.

    It serves ``fizz/demo-busybox:1`` (busybox, Cmd ``sh``); add images of your own under
    unique names with ``add_image``, and remove what you pulled from the engine afterwards
    (the engine's image store is shared). Skips where no static busybox is installed.
    """
    from devnet.engine.images import BusyboxMissing
    from devnet.engine.registry import LocalRegistry

    with LocalRegistry() as registry:
        try:
            registry.add_image("fizz/demo-busybox", "1")
        except BusyboxMissing as error:
            pytest.skip(str(error))
        yield registry


# ---- Secret Service (wallet and keyring tests) --------------------------------------------------

import contextlib  # noqa: E402 - appended with the fixtures below

from keyring.backend import KeyringBackend  # noqa: E402

# A bus of our own with no service directories: nothing is D-Bus-activated on it, so a client
# that calls before our daemon is up cannot start a second, locked keyring daemon.
_PRIVATE_BUS_CONFIG = """<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def _secret_service_binaries() -> tuple[str, str]:
    dbus_daemon = shutil.which("dbus-daemon")
    keyring_daemon = shutil.which("gnome-keyring-daemon")
    if dbus_daemon is None or keyring_daemon is None:
        missing = [
            name
            for name, found in (
                ("dbus-daemon", dbus_daemon),
                ("gnome-keyring-daemon", keyring_daemon),
            )
            if found is None
        ]
        pytest.skip(
            f"{' and '.join(missing)} not installed, so no Secret Service can run "
            "(Debian: apt-get install dbus dbus-x11 gnome-keyring)"
        )
    return dbus_daemon, keyring_daemon


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in reversed(processes):  # the keyring daemon first, then its bus
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextlib.contextmanager
def _running_secret_service(folder: Path) -> Iterator[KeyringBackend]:
    """Start a private bus and an unlocked gnome-keyring-daemon in ``folder``; yield a
    SecretService keyring backend bound to them, with DBUS_SESSION_BUS_ADDRESS set meanwhile."""
    dbus_daemon, keyring_daemon = _secret_service_binaries()
    from keyring.backends.SecretService import Keyring as SecretServiceKeyring

    home, runtime = folder / "home", folder / "runtime"
    home.mkdir()
    runtime.mkdir(mode=0o700)
    # The daemon keeps its keyring files under this temporary HOME, never the user's.
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_RUNTIME_DIR": str(runtime),
    }
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    config = folder / "session.conf"
    config.write_text(_PRIVATE_BUS_CONFIG.format(socket=folder / "bus"))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with open(folder / "dbus-daemon.log", "wb") as bus_log:
            bus = subprocess.Popen(
                [dbus_daemon, f"--config-file={config}", "--nofork", "--print-address=1"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=bus_log,
                start_new_session=True,
            )
        processes.append(bus)
        assert bus.stdout is not None
        address = bus.stdout.readline().decode().strip()  # printed once the bus listens
        bus.stdout.close()
        if not address:
            log = (folder / "dbus-daemon.log").read_text(errors="replace")
            pytest.fail(f"dbus-daemon did not start: {log[-500:]}")
        env["DBUS_SESSION_BUS_ADDRESS"] = address
        # --unlock reads the login keyring's password from stdin and creates that keyring, with
        # the "default" alias, unlocked: no prompt ever appears. --foreground keeps the daemon
        # our child, so it is ours to stop.
        with open(folder / "gnome-keyring.log", "wb") as keyring_log:
            daemon = subprocess.Popen(
                [keyring_daemon, "--foreground", "--unlock", "--components=secrets"],
                env=env,
                stdin=subprocess.PIPE,
                stdout=keyring_log,
                stderr=keyring_log,
                start_new_session=True,
            )
        processes.append(daemon)
        assert daemon.stdin is not None
        daemon.stdin.write(b"fizz-test-keyring")
        daemon.stdin.close()
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
            backend = SecretServiceKeyring()
            deadline = time.monotonic() + 20
            while True:  # the daemon claims its bus name a moment after it starts
                try:
                    backend.set_password("fizz-fixture", "probe", "ready")
                    if backend.get_password("fizz-fixture", "probe") == "ready":
                        backend.delete_password("fizz-fixture", "probe")
                        break
                except Exception:  # noqa: BLE001 - any failure here means "not up yet"
                    pass
                if daemon.poll() is not None or time.monotonic() > deadline:
                    log = (folder / "gnome-keyring.log").read_text(errors="replace")
                    pytest.fail(f"gnome-keyring-daemon did not start: {log[-500:]}")
                time.sleep(0.05)
            yield backend
    finally:
        _stop(processes)


@pytest.fixture(scope="session")
def secret_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyringBackend]:
    """A real Secret Service (gnome-keyring-daemon, unlocked) on a private D-Bus session bus,
    shared by the session: yields a ``keyring.backends.SecretService.Keyring`` bound to it.

    While it lasts, ``DBUS_SESSION_BUS_ADDRESS`` points at the private bus (restored
    afterwards); the keyring files live in a temporary HOME, so the user's own keyring is never
    touched. Use unique entry names; do not lock it (use ``fresh_secret_service`` for that).
    Skips only where the daemons are not installed (``scripts/bootstrap.sh`` installs them).
    """
    with _running_secret_service(tmp_path_factory.mktemp("secret-service")) as backend:
        yield backend


@pytest.fixture
def fresh_secret_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyringBackend]:
    """Like ``secret_service``, but a new daemon for this test alone: lock it, break it."""
    with _running_secret_service(tmp_path_factory.mktemp("fresh-secret-service")) as backend:
        yield backend
