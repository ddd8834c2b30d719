"""``make run``: the whole network on this machine, and this machine as a node on it.

Starts ``fizz-node devnet up`` (chain, gateway, matchmaker, container engine), sets the node up
when needed (a wallet with a generated passphrase kept in ``<data>/devnet/passphrase`` for
``FIZZ_WALLET_PASSPHRASE``, unless this data folder has a wallet already; then faucet, register
on the fresh chain, idle-only off), starts the demo tenant (``fizz-node devnet tenant``), and
then the desktop app pointed at the devnet when there is a display, else ``fizz-node run``,
whose status lines (and the tenant's) are printed here. Ctrl-C, SIGTERM, or quitting the app
stops everything it started.

Run ``.venv/bin/python -m devnet.demo [--era-seconds N]``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import signal
import sys
import tempfile
import time
from pathlib import Path

from devnet.supervise import (
    Child,
    SupervisionError,
    cli_json,
    fizz_node_command,
    spawn,
    terminate_on_sigterm,
    uninterrupted,
    wait_for,
)

__all__ = ["main"]


def _say(text: str) -> None:
    print(f"[make run] {text}", flush=True)


def _passphrase(data_dir: Path) -> str | None:
    """The demo wallet's passphrase: kept in the devnet folder (created with a new wallet)."""
    path = data_dir / "devnet" / "passphrase"
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    if (data_dir / "wallet.json").exists():
        return None  # the user's own wallet: its key is in the OS keyring
    path.parent.mkdir(parents=True, exist_ok=True)
    text = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text + "\n")
    return text


def _set_up_node(fizz: str, env: dict[str, str], data_dir: Path) -> None:
    if not (data_dir / "wallet.json").exists():
        address = cli_json(fizz, env, "wallet", "create")["address"]
        _say(f"created the node's wallet {address} (passphrase in {data_dir}/devnet/passphrase)")
    funded = cli_json(fizz, env, "devnet", "faucet")
    _say(f"faucet sent {funded['eth']} ETH and {funded['uspon']} uSPON to {funded['address']}")
    registered = cli_json(fizz, env, "register", "--region", "us-east", "--network", "devnet")
    _say(f"registered on chain as Fizz node {registered['fizz_id']}")
    cli_json(fizz, env, "limits", "set", "--idle-only", "off")


def _want_online(data_dir: Path) -> None:
    """Save "online" as the node's desired state, which the app goes to when it opens."""
    from fizz_app.core.desired import DesiredStore
    from fizz_app.core.state import DesiredState

    store = DesiredStore(data_dir)
    store.update(store.load(), state=DesiredState.ONLINE, paused_until=None)


def _tail(children: list[Child], offsets: dict[str, int]) -> None:
    for child in children:
        text = child.output(tail=10_000_000)
        start = offsets.get(child.name, 0)
        for line in text[start:].splitlines(keepends=True):
            if line.endswith("\n"):
                # The tenant and devnet prefix their own lines; the node's get its name.
                shown = line if line.startswith("[") else f"[{child.name}] {line}"
                print(shown, end="", flush=True)
                start += len(line)
        offsets[child.name] = start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--era-seconds", type=int, default=120, help="reward era (default 120)")
    parser.add_argument("--headless", action="store_true", help="never open the desktop app")
    parser.add_argument(
        "--up-args",
        default="",
        metavar="ARGS",
        help="more arguments for `fizz-node devnet up`, e.g. '--port 9545 --gateway-port 9443' "
        "when the default ports are taken",
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from fizz_app.core import paths

    data_dir = paths.data_dir()
    fizz = fizz_node_command()
    folder = Path(tempfile.mkdtemp(prefix="fizz-make-run-"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    passphrase = _passphrase(data_dir)
    if passphrase is not None:
        env["FIZZ_WALLET_PASSPHRASE"] = passphrase
        env.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    children: list[Child] = []
    code = 0
    try:
        with terminate_on_sigterm():
            up_argv = [fizz, "devnet", "up", "--era-seconds", str(args.era_seconds),
                       *shlex.split(args.up_args)]  # fmt: skip
            up = spawn("devnet", up_argv, env, folder)
            children.append(up)
            wait_for(up, r"ready\.", 120)
            print(up.output(), end="", flush=True)
            _set_up_node(fizz, env, data_dir)
            from devnet.up import read_description

            engine = (read_description() or {}).get("docker_host")
            node_env = {**env, "DOCKER_HOST": engine} if engine else env
            gui = not args.headless and bool(
                os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
            )
            app = Path(fizz).with_name("fizz-app")
            if gui and app.is_file():
                _want_online(data_dir)  # as if Start was pressed: the app goes online at once
                node = spawn("app", [str(app)], node_env, folder)
                _say("the desktop app is open on the devnet and going online; quitting it "
                     "stops the demo")  # fmt: skip
            else:
                node = spawn("node", [fizz, "run"], node_env, folder)
            children.append(node)
            tenant = spawn("tenant", [fizz, "devnet", "tenant", "--interval", "10"], env, folder)
            children.append(tenant)
            _say("the node takes leases from the demo tenant and earns uSPON; Ctrl-C stops all")
            offsets: dict[str, int] = {up.name: len(up.output(tail=10_000_000))}
            while all(child.running for child in children):
                _tail([node, tenant], offsets)
                time.sleep(0.5)
            stopped = next(child for child in children if not child.running)
            if stopped.name != "app":  # quitting the app ends the demo; anything else failed
                _say(f"{stopped.name} exited ({stopped.process.returncode}); stopping")
                code = 1
    except SupervisionError as error:
        print(f"[make run] {error}", file=sys.stderr, flush=True)
        code = 1
    except KeyboardInterrupt:
        pass
    finally:
        with uninterrupted():
            for child in reversed(children):
                child.stop(grace_s=60)
            _say(f"everything stopped; logs in {folder}")
    return code


if __name__ == "__main__":
    sys.exit(main())
