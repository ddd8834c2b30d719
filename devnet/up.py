"""``fizz-node devnet up``: the whole local network, supervised, until Ctrl-C or SIGTERM.

In order: anvil with every contract deployed (eras of ``--era-seconds``; the settler is anvil's
second account, holding SETTLER_ROLE and SLASHER_ROLE) and the deployment file written where
``--network devnet`` reads it; a private Podman engine that may pull from registries on
127.0.0.1 over plain HTTP (unless ``--no-engine``; nodes point ``DOCKER_HOST`` at it); the
reference gateway (``fizz-node devnet gateway``: registered and published in ProviderRegistry,
bidding for its nodes, settling their leases, paying era rewards); the matchmaker
(``fizz-node devnet market``). The faucet is ``fizz-node devnet faucet``.

Everything is a child in a process group of its own, with its log in a temporary folder. A
gateway or matchmaker that dies is started again, on the same ports with the state it saved
(leases, public ports, its TLS certificate), so nodes and tenants see an outage, not a new
network; one that dies more than :data:`MAX_RESTARTS` times in :data:`RESTART_WINDOW_S`, or the
chain dying (its state lives in memory), stops everything and the command exits 1. On Ctrl-C or
SIGTERM everything is stopped (SIGTERM, then SIGKILL) and the deployment file removed, and it
exits 0.
:func:`description_path` holds what is running where (JSON) while it runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devnet.supervise import (
    Child,
    SupervisionError,
    fizz_node_command,
    spawn,
    terminate_on_sigterm,
    uninterrupted,
    wait_for,
)
from fizz_app.core import paths
from fizz_app.core.atomic import write_atomic
from fizz_app.core.errors import UserFacingError

__all__ = ["description_path", "read_description", "run"]

START_TIMEOUT_S = 60.0
MAX_RESTARTS = 5
RESTART_WINDOW_S = 300.0
"""A child restarted more than :data:`MAX_RESTARTS` times within this many seconds is failing
for good (a broken setting, a port taken): everything stops instead of looping."""


def description_path() -> Path:
    """Where a running ``devnet up`` describes itself (``rpc_url``, ``gateway_url``,
    ``api_url``, ``docker_host``, ``logs``)."""
    return paths.data_dir() / "devnet" / "up.json"


def read_description() -> dict[str, Any] | None:
    """The running devnet's description, or ``None`` when none is running."""
    try:
        data = json.loads(description_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _say(text: str) -> None:
    print(f"[devnet] {text}", flush=True)


def _check(args: argparse.Namespace) -> None:
    ports = (args.port, args.gateway_port, args.api_port)
    if any(not 0 < port < 65536 for port in ports) or args.era_seconds <= 0:
        raise UserFacingError(
            "Ports must be 1-65535 and the era length positive.", "Check the arguments."
        )


@dataclass
class Supervised:
    """A child ``devnet up`` keeps running: how to start it and how to tell it is ready."""

    name: str
    argv: list[str]
    ready: str
    """A pattern its output matches once it serves."""
    child: Child | None = None
    restarts: deque[float] = field(default_factory=deque)
    """Monotonic times of its recent restarts."""

    def start(self, env: dict[str, str], folder: Path) -> Child:
        """Start it (a restart appends to its log) and wait until it is ready.

        Raises:
            SupervisionError: it exited first or was not ready within START_TIMEOUT_S.
        """
        restart = self.child is not None
        after = len(self.child.output(tail=10_000_000)) if self.child is not None else 0
        self.child = spawn(self.name, self.argv, env, folder, append=restart)
        wait_for(self.child, self.ready, START_TIMEOUT_S, after=after)
        return self.child

    def may_restart(self, now: float) -> bool:
        """Count a restart at ``now``; False when it would be one too many."""
        while self.restarts and now - self.restarts[0] > RESTART_WINDOW_S:
            self.restarts.popleft()
        self.restarts.append(now)
        return len(self.restarts) <= MAX_RESTARTS


def _keep_running(supervised: list[Supervised], anvil: Any, env: dict[str, str],
                  folder: Path) -> None:  # fmt: skip
    """Watch the children until interrupted: restart one that died (within its budget).

    Raises:
        SupervisionError: the chain died, or a child kept dying.
    """
    while True:
        if not anvil.running:
            raise SupervisionError("the chain (anvil) exited; its state is gone with it")
        for item in supervised:
            child = item.child
            if child is None or child.running:
                continue
            code = child.process.returncode
            if not item.may_restart(time.monotonic()):
                raise SupervisionError(
                    f"{item.name} exited ({code}) {MAX_RESTARTS + 1} times within "
                    f"{RESTART_WINDOW_S:g} s; giving up:\n{child.output()}"
                )
            _say(f"{item.name} exited ({code}); starting it again "
                 f"(restart {len(item.restarts)} of at most {MAX_RESTARTS} in "
                 f"{RESTART_WINDOW_S:g} s)")  # fmt: skip
            child.stop(grace_s=1)  # reap it and whatever it left in its group
            try:
                item.start(env, folder)
            except SupervisionError as error:  # the next round counts another restart
                _say(f"{item.name} did not come back: {error}")
                continue
            _say(f"{item.name} is back")
        time.sleep(0.5)


def run(args: argparse.Namespace) -> int:
    """Start everything, print where it is, supervise until interrupted (module docstring)."""
    _check(args)
    from devnet.cli import deployment_path, forget_gateway

    # Started in the background by a script, SIGINT may come ignored: Ctrl-C must still stop.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    folder = Path(tempfile.mkdtemp(prefix="fizz-devnet-"))
    supervised: list[Supervised] = []
    anvil: Any = None
    engine: Any = None
    failed = False
    try:
        with terminate_on_sigterm():
            anvil = _start_chain(args, deployment_path())
            forget_gateway()  # leases of an earlier chain
            docker_host = None
            if not args.no_engine:
                engine, docker_host = _start_engine(folder)
            fizz_node = fizz_node_command()
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            gateway = Supervised(
                "gateway",
                [fizz_node, "devnet", "gateway", "--port", str(args.gateway_port),
                 "--api-port", str(args.api_port), "--public-ports", args.public_ports],
                r"Tenants send manifests to \S+?/deployment",
            )  # fmt: skip
            supervised.append(gateway)
            started = gateway.start(env, folder)
            url = wait_for(started, r"serving nodes at (\S+)", 5).group(1)
            api = wait_for(started, r"Tenants send manifests to (\S+?)/deployment", 5).group(1)
            market = Supervised(
                "market", [fizz_node, "devnet", "market"], r"Matchmaker matching orders"
            )
            supervised.append(market)
            market.start(env, folder)
            description = {
                "rpc_url": anvil.rpc_url,
                "gateway_url": url,
                "api_url": api,
                "docker_host": docker_host,
                "era_seconds": args.era_seconds,
                "logs": str(folder),
                "pid": os.getpid(),
            }
            write_atomic(description_path(), json.dumps(description, indent=2).encode())
            _say(f"chain      {anvil.rpc_url} (contracts: {deployment_path()})")
            _say(f"gateway    {url}; tenant API {api}; bids, settles, pays era rewards")
            _say(f"matchmaker running; eras of {args.era_seconds} s")
            _say(f"engine     {docker_host or 'none (--no-engine)'}")
            _say("faucet     fizz-node devnet faucet [ADDRESS]")
            _say(f"logs       {folder}")
            _say("ready. Press Ctrl-C to stop everything.")
            _keep_running(supervised, anvil, env, folder)
    except SupervisionError as error:
        print(f"[devnet] {error}", file=sys.stderr, flush=True)
        failed = True
    except KeyboardInterrupt:
        pass
    finally:
        with uninterrupted():
            for item in reversed(supervised):
                if item.child is not None:
                    item.child.stop(grace_s=15)
            if engine is not None:
                engine.stop()
            if anvil is not None:
                anvil.stop()
            description_path().unlink(missing_ok=True)
            deployment_path().unlink(missing_ok=True)
            forget_gateway()
            if not failed:
                shutil.rmtree(folder, ignore_errors=True)
            _say("stopped" + (f"; logs kept in {folder}" if failed else ""))
    return 1 if failed else 0


def _start_chain(args: argparse.Namespace, deployment_file: Path) -> Any:
    from devnet.chain.anvil import AnvilError, AnvilProcess
    from devnet.chain.deploy import Deployment, deploy_all

    try:
        anvil = AnvilProcess(port=args.port).start()
    except AnvilError as error:
        raise UserFacingError(
            f"The local chain could not start: {error}",
            f"Free port {args.port} (or pass --port); 'make run' installs anvil.",
        ) from None
    try:
        w3 = anvil.web3()
        accounts = list(w3.eth.accounts)
        deployment = deploy_all(w3, accounts[0], era_seconds=args.era_seconds, settler=accounts[1])
        deployment = Deployment(**{**deployment.__dict__, "rpc_url": anvil.rpc_url})
        deployment.write_deployment_file(deployment_file)
    except BaseException:
        anvil.stop()
        raise
    return anvil


def _start_engine(folder: Path) -> tuple[Any, str | None]:
    from devnet.engine.podman import PodmanService, PodmanUnavailable

    if shutil.which("podman") is None:
        _say("podman is not installed: nodes use their own Docker engine (DOCKER_HOST)")
        return None, None
    service = PodmanService(folder / "engine", insecure_registries=["127.0.0.1"])
    try:
        url = service.__enter__()
    except PodmanUnavailable as error:
        _say(f"no private container engine: {error}")
        return None, None
    return service, url
