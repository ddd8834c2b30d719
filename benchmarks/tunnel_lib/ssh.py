"""An OpenSSH reverse tunnel (``ssh -R``) on loopback: the reference for the project's tunnel.

Topology, the same as the project's gateway: a private ``sshd`` plays the gateway; ``ssh -R``
plays the node, dialling out to it and asking it to listen on ``remote_port``. A client
connecting to ``127.0.0.1:remote_port`` (on the gateway side) is carried over the one SSH
connection to the node side, which connects to the target server::

    client -> sshd (remote_port) == SSH connection == ssh -R -> target server

Everything (host key, client key, config, logs) lives in a temporary folder removed on
``stop()``. The user's ``~/.ssh`` and the system's sshd configuration are never read.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .procs import kill_now, spawn, stop_process
from .tunnels import Address, TunnelStartError

_SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])
INSTALL_HINT = "apt-get install -y --no-install-recommends openssh-server openssh-client"
TEMP_PREFIX = "fizz-bench-ssh-"
"""Prefix of the temporary folder of every SSH tunnel (tests look for it in command lines)."""


def find_binaries() -> dict[str, str | None]:
    """Absolute paths of ``sshd``, ``ssh`` and ``ssh-keygen``, or None for those missing."""
    return {name: shutil.which(name, path=_SBIN_PATH) for name in ("sshd", "ssh", "ssh-keygen")}


def openssh_version() -> str | None:
    """The OpenSSH client's version line (``ssh -V``), or None without ssh."""
    ssh = find_binaries()["ssh"]
    if ssh is None:
        return None
    result = subprocess.run([ssh, "-V"], capture_output=True, text=True, check=False)
    return (result.stderr or result.stdout).strip() or None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the caller retries if it is taken meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


async def _accepts(address: Address) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(*address), 1.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def _tail(path: Path, limit: int = 1500) -> str:
    try:
        return path.read_text(errors="replace")[-limit:].strip()
    except OSError:
        return ""


_SSHD_CONFIG = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {folder}/host_ed25519
PidFile none
AuthorizedKeysFile {folder}/authorized_keys
UsePAM no
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowTcpForwarding yes
GatewayPorts no
AllowAgentForwarding no
X11Forwarding no
PermitTTY no
PrintMotd no
LogLevel INFO
"""


class SshReverseTunnel:
    """A private ``sshd`` on 127.0.0.1 and an ``ssh -R`` client forwarding to ``target``.

    ``start()`` returns ``("127.0.0.1", remote_port)``, the port sshd listens on for the
    forward, once it accepts connections. ``stop()`` kills the client, the server and every
    process they forked (sshd serves each connection in a child of its own session).
    """

    def __init__(
        self,
        target: Address,
        *,
        user: str | None = None,
        start_timeout_s: float = 20.0,
        attempts: int = 3,
    ) -> None:
        self._target = target
        self._user = user or getpass.getuser()
        self._start_timeout_s = start_timeout_s
        self._attempts = attempts
        self._folder: Path | None = None
        self._processes: list[asyncio.subprocess.Process] = []
        self._details: dict[str, str] = {}

    @property
    def workdir(self) -> Path | None:
        """The temporary folder of keys, config and logs (None before start, after stop)."""
        return self._folder

    def details(self) -> dict[str, str]:
        """OpenSSH version, negotiated cipher and the ports used (after ``start()``)."""
        return dict(self._details)

    async def start(self) -> Address:
        """Start sshd and ``ssh -R``; return the forwarded address once it accepts."""
        binaries = find_binaries()
        missing = [name for name, path in binaries.items() if path is None]
        if missing:
            raise TunnelStartError(f"{', '.join(missing)} not found; install: {INSTALL_HINT}")
        sshd, ssh, keygen = (str(binaries[name]) for name in ("sshd", "ssh", "ssh-keygen"))
        if os.geteuid() == 0:
            # sshd running as root insists on its privilege-separation folder, which Debian's
            # service unit normally creates at boot (RuntimeDirectory=sshd).
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
        self._folder = folder
        try:
            await self._make_keys(keygen, folder)
            last_error = "no attempt made"
            for _ in range(self._attempts):  # a port chosen free can be taken before use
                try:
                    address = await self._start_once(sshd, ssh, folder)
                except TunnelStartError as error:
                    last_error = str(error)
                    await self._stop_processes()
                    continue
                self._details.update(
                    openssh=openssh_version() or "?",
                    cipher=self._cipher(folder / "ssh.log"),
                    user=self._user,
                )
                return address
            raise TunnelStartError(last_error)
        except BaseException:
            await self.stop()
            raise

    async def _make_keys(self, keygen: str, folder: Path) -> None:
        for name in ("host_ed25519", "client_ed25519"):
            process = await asyncio.create_subprocess_exec(
                keygen, "-q", "-t", "ed25519", "-N", "", "-C", "fizz-bench", "-f",
                str(folder / name),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            output, _ = await process.communicate()
            if process.returncode != 0:
                raise TunnelStartError(f"ssh-keygen failed: {output.decode(errors='replace')}")
        (folder / "authorized_keys").write_bytes((folder / "client_ed25519.pub").read_bytes())
        (folder / "client_ed25519").chmod(0o600)

    async def _start_once(self, sshd: str, ssh: str, folder: Path) -> Address:
        deadline = time.monotonic() + self._start_timeout_s
        sshd_port, remote_port = free_port(), free_port()
        config = folder / "sshd_config"
        config.write_text(_SSHD_CONFIG.format(port=sshd_port, folder=folder))
        server = await spawn([sshd, "-D", "-e", "-f", str(config)], folder / "sshd.log")
        self._processes.append(server)
        while not await _accepts(("127.0.0.1", sshd_port)):
            if server.returncode is not None or time.monotonic() > deadline:
                raise TunnelStartError(f"sshd did not start: {_tail(folder / 'sshd.log')}")
            await asyncio.sleep(0.02)
        target_host, target_port = self._target
        client = await spawn(
            [
                ssh, "-v", "-N", "-F", "/dev/null",
                "-o", "BatchMode=yes",
                "-o", "IdentitiesOnly=yes",
                "-o", "IdentityAgent=none",
                "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null",
                "-o", "ExitOnForwardFailure=yes",
                "-i", str(folder / "client_ed25519"),
                "-p", str(sshd_port),
                "-R", f"127.0.0.1:{remote_port}:{target_host}:{target_port}",
                f"{self._user}@127.0.0.1",
            ],
            folder / "ssh.log",
        )  # fmt: skip
        self._processes.append(client)
        address = ("127.0.0.1", remote_port)
        while not await _accepts(address):
            if client.returncode is not None or server.returncode is not None:
                raise TunnelStartError(
                    f"ssh -R exited ({client.returncode}): {_tail(folder / 'ssh.log')}\n"
                    f"sshd: {_tail(folder / 'sshd.log')}"
                )
            if time.monotonic() > deadline:
                raise TunnelStartError(
                    f"forwarded port {remote_port} did not open in {self._start_timeout_s} s: "
                    f"{_tail(folder / 'ssh.log')}"
                )
            await asyncio.sleep(0.02)
        self._details.update(sshd_port=str(sshd_port), remote_port=str(remote_port))
        return address

    @staticmethod
    def _cipher(log: Path) -> str:
        found = re.search(r"kex: client->server cipher: (\S+) MAC: (\S+)", _tail(log, 100_000))
        return f"{found[1]} (MAC {found[2]})" if found else "?"

    async def _stop_processes(self) -> None:
        # The client first: its SSH connection closes, so sshd's per-connection child exits
        # by itself; then sshd. stop_process also kills any descendant still running.
        try:
            while self._processes:
                await stop_process(self._processes.pop())
        finally:  # interrupted (cancelled): kill the rest outright
            for process in self._processes:
                kill_now(process)
            self._processes.clear()

    async def stop(self) -> None:
        """Kill ssh and sshd (and their children), then remove the temporary folder."""
        try:
            await self._stop_processes()
        finally:
            if self._folder is not None:
                shutil.rmtree(self._folder, ignore_errors=True)
                self._folder = None
