"""``fizz-node devnet up``: the whole local network, supervised, until Ctrl-C or SIGTERM.

In order: anvil with every contract deployed (eras of ``--era-seconds``; the settler is anvil's
second account, holding SETTLER_ROLE and SLASHER_ROLE) and the deployment file written where
``--network devnet`` reads it; a private Podman engine that may pull from registries on
127.0.0.1 over plain HTTP (unless ``--no-engine``; nodes point ``DOCKER_HOST`` at it); the
reference gateway (``fizz-node devnet gateway``: registered and published in ProviderRegistry,
bidding for its nodes, settling their leases, paying era rewards); the matchmaker
(``fizz-node devnet market``). The faucet is ``fizz-node devnet faucet``.

Everything is a child in a process group of its own, with its log in a temporary folder. If a
child dies, everything is stopped and the command exits 1; on Ctrl-C or SIGTERM everything is
stopped (SIGTERM, then SIGKILL) and the deployment file removed, and it exits 0.
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


def run(args: argparse.Namespace) -> int:
    """Start everything, print where it is, supervise until interrupted (module docstring)."""
    _check(args)
    from devnet.cli import deployment_path, gateway_state_path

    # Started in the background by a script, SIGINT may come ignored: Ctrl-C must still stop.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    folder = Path(tempfile.mkdtemp(prefix="fizz-devnet-"))
    children: list[Child] = []
    anvil: Any = None
    engine: Any = None
    failed = False
    try:
        with terminate_on_sigterm():
            anvil = _start_chain(args, deployment_path())
            gateway_state_path().unlink(missing_ok=True)  # leases of an earlier chain
            docker_host = None
            if not args.no_engine:
                engine, docker_host = _start_engine(folder)
            fizz_node = fizz_node_command()
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            gateway = spawn(
                "gateway",
                [fizz_node, "devnet", "gateway", "--port", str(args.gateway_port),
                 "--api-port", str(args.api_port), "--public-ports", args.public_ports],
                env,
                folder,
            )  # fmt: skip
            children.append(gateway)
            url = wait_for(gateway, r"serving nodes at (\S+)", START_TIMEOUT_S).group(1)
            api = wait_for(gateway, r"Tenants send manifests to (\S+?)/deployment", 5).group(1)
            market = spawn("market", [fizz_node, "devnet", "market"], env, folder)
            children.append(market)
            wait_for(market, r"Matchmaker matching orders", START_TIMEOUT_S)
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
            while True:
                for child in children:
                    if not child.running:
                        failed = True
                        raise SupervisionError(
                            f"{child.name} exited ({child.process.returncode}):\n{child.output()}"
                        )
                if not anvil.running:
                    failed = True
                    raise SupervisionError("the chain (anvil) exited")
                time.sleep(0.5)
    except SupervisionError as error:
        print(f"[devnet] {error}", file=sys.stderr, flush=True)
        failed = True
    except KeyboardInterrupt:
        pass
    finally:
        with uninterrupted():
            for child in reversed(children):
                child.stop(grace_s=15)
            if engine is not None:
                engine.stop()
            if anvil is not None:
                anvil.stop()
            description_path().unlink(missing_ok=True)
            deployment_path().unlink(missing_ok=True)
            gateway_state_path().unlink(missing_ok=True)
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
