"""``fizz-node wallet create | import | show | reward-address``.

Secrets are never taken from the command line (other users can read a process's arguments):
the recovery phrase or key is read from standard input, hidden when it is a terminal, and the
keystore passphrase comes from a hidden prompt or the ``FIZZ_WALLET_PASSPHRASE`` environment
variable (for scripts and services).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import TYPE_CHECKING, Any

from ..core import paths
from ..core.errors import UserFacingError
from .output import emit

if TYPE_CHECKING:
    from ..core.wallet import UnlockedWallet, WalletManager

__all__ = ["add_parsers", "open_wallets", "unlock_wallet", "PASSPHRASE_ENV"]

PASSPHRASE_ENV = "FIZZ_WALLET_PASSPHRASE"
"""Environment variable with the keystore passphrase, for unattended use."""


def open_wallets(args: argparse.Namespace) -> WalletManager:
    """The node's wallet manager: OS keyring when one works, else the encrypted keystore.

    ``args.redactor`` (set by ``main``) learns every secret the wallet unlocks, so none reaches
    the log file."""
    # Imported here: eth_account and keyring cost a start-up every other command should not pay.
    from ..core.secrets import open_os_secret_store
    from ..core.wallet import WalletManager

    return WalletManager(paths.data_dir(), open_os_secret_store(), getattr(args, "redactor", None))


def _passphrase(prompt: str, *, confirm: bool = False) -> str:
    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        raise UserFacingError(
            "This machine has no OS keyring, so the wallet is kept in a file encrypted with a "
            "passphrase, and none was given.",
            f"Run the command in a terminal to be asked for it, or set {PASSPHRASE_ENV}.",
        )
    first = getpass.getpass(prompt)
    if confirm and getpass.getpass("Repeat the passphrase: ") != first:
        raise UserFacingError("The two passphrases differ.", "Run the command again.")
    return first


def unlock_wallet(wallets: WalletManager) -> UnlockedWallet:
    """Unlock the node wallet, asking for the keystore passphrase when one is needed."""
    if not wallets.exists():
        raise UserFacingError(
            "This node has no wallet yet.", "Create one with: fizz-node wallet create"
        )
    passphrase = None
    if wallets.storage_kind() == "keystore":
        passphrase = _passphrase("Wallet passphrase: ")
    return wallets.unlock(passphrase)


def _new_passphrase(wallets: WalletManager) -> str | None:
    if not wallets.needs_passphrase:
        return None
    return _passphrase(
        "No OS keyring here: choose a passphrase (8+ characters) to encrypt the wallet file: ",
        confirm=True,
    )


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    wallet = sub.add_parser("wallet", help="the node's wallet (kept in the OS keyring)")
    actions = wallet.add_subparsers(dest="wallet_command", metavar="ACTION", required=True)

    create = actions.add_parser("create", help="create a wallet with a new recovery phrase")
    create.add_argument("--replace", action="store_true", help="replace the existing wallet")
    create.add_argument("--json", action="store_true", help="print JSON")
    create.set_defaults(handler=create_wallet)

    imported = actions.add_parser(
        "import",
        help="import a recovery phrase or private key (read from standard input)",
    )
    imported.add_argument("--replace", action="store_true", help="replace the existing wallet")
    imported.add_argument("--json", action="store_true", help="print JSON")
    imported.set_defaults(handler=import_wallet)

    show = actions.add_parser("show", help="address, reward address and where the key is kept")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=show_wallet)

    reward = actions.add_parser(
        "reward-address", help="send era rewards to another address (default: the node's own)"
    )
    reward.add_argument("address", help="0x-address that receives rewards")
    reward.add_argument("--json", action="store_true", help="print JSON")
    reward.set_defaults(handler=set_reward_address)


def _describe(wallets: WalletManager) -> dict[str, Any]:
    return {
        "address": wallets.address(),
        "reward_address": wallets.reward_address(),
        "storage": wallets.storage_kind(),
        "storage_description": wallets.describe_storage(),
    }


def create_wallet(args: argparse.Namespace) -> int:
    wallets = open_wallets(args)
    new = wallets.create(_new_passphrase(wallets), replace=args.replace)
    words = new.mnemonic.split()
    numbered = "\n".join(
        "   " + "  ".join(f"{i + 1:>2}. {w:<10}" for i, w in enumerate(words) if i % 4 == row)
        for row in range(4)
    )
    emit(
        args.json,
        {**_describe(wallets), "mnemonic": new.mnemonic},
        f"Created wallet {new.address} ({wallets.describe_storage()}).\n\n"
        "Write down this recovery phrase and keep it offline. It is shown only now, and it is\n"
        "the only way to restore the wallet and its earnings on another machine:\n\n"
        f"{numbered}\n",
    )
    return 0


def import_wallet(args: argparse.Namespace) -> int:
    wallets = open_wallets(args)
    if sys.stdin.isatty():
        secret = getpass.getpass("Recovery phrase or private key (hidden): ")
    else:
        secret = sys.stdin.read()
    secret = secret.strip()
    if not secret:
        raise UserFacingError(
            "Nothing was given to import.",
            "Type the recovery phrase or private key, or pipe it into the command.",
        )
    passphrase = _new_passphrase(wallets)
    words = secret.split()
    if len(words) > 1:
        address = wallets.import_mnemonic(secret, passphrase, replace=args.replace)
    else:
        address = wallets.import_private_key(secret, passphrase, replace=args.replace)
    emit(
        args.json, _describe(wallets), f"Imported wallet {address} ({wallets.describe_storage()})."
    )
    return 0


def show_wallet(args: argparse.Namespace) -> int:
    wallets = open_wallets(args)
    if not wallets.exists():
        raise UserFacingError(
            "This node has no wallet yet.", "Create one with: fizz-node wallet create"
        )
    info = _describe(wallets)
    emit(
        args.json,
        info,
        f"Address:         {info['address']}\n"
        f"Rewards go to:   {info['reward_address']}\n"
        f"Key kept in:     {info['storage_description']}",
    )
    return 0


def set_reward_address(args: argparse.Namespace) -> int:
    wallets = open_wallets(args)
    address = wallets.set_reward_address(args.address)
    emit(args.json, _describe(wallets), f"Rewards will go to {address}.")
    return 0
