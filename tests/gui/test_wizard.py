"""The first-run wizard against the real engine, the in-process chain and the reference gateway:
a fresh home is checked, gets a wallet, funds, registers, picks a price and goes online."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QListWidget  # noqa: E402
from pytestqt.qtbot import QtBot  # noqa: E402

from devnet.chain.faucet import fund  # noqa: E402
from fizz_app.core.chain import AsyncChainClient  # noqa: E402
from fizz_app.core.config import SettingsStore  # noqa: E402
from fizz_app.core.jobs.wasm import WasmRunner  # noqa: E402
from fizz_app.core.node import Node  # noqa: E402
from fizz_app.core.state import NodeStatus  # noqa: E402
from fizz_app.core.wallet import WalletManager  # noqa: E402
from fizz_app.gui.bridge import EngineBridge  # noqa: E402
from fizz_app.gui.pages.wizard import FirstRunWizard  # noqa: E402
from fizz_app.gui.pages.wizard_steps.funding import FundingStep  # noqa: E402
from fizz_app.gui.pages.wizard_steps.pricing import PricingStep  # noqa: E402
from fizz_app.gui.pages.wizard_steps.register import RegisterStep  # noqa: E402
from fizz_app.gui.pages.wizard_steps.start import StartStep  # noqa: E402
from fizz_app.gui.pages.wizard_steps.wallet import CONFIRM, DONE, PHRASE, WalletStep  # noqa: E402
from gateway_client.backoff import ReconnectPolicy  # noqa: E402
from tests.local_network import CONFIG  # noqa: E402

pytestmark = pytest.mark.gui

PASSPHRASE = "correct horse battery"
WAIT_MS = 30_000


def _fresh_node_factory(chain: Any, home: Path) -> Callable[[], Node]:
    """A node with NO wallet (no OS keyring: a new one needs a passphrase), on the local chain;
    its passphrase comes only from the wizard (``set_passphrase``)."""
    store = SettingsStore(home / "settings.json")
    store.update_section("limits", idle_only=False, pause_on_fullscreen=False)

    def factory() -> Node:
        return Node(
            store=store,
            data_dir=home,
            wallets=WalletManager(home, None, scrypt_n=16),
            passphrase=lambda: None,
            chain=lambda settings: AsyncChainClient(chain.client),
            runners=lambda instance: [WasmRunner(home / "leases" / "wasm")],
            link_options={"policy": ReconnectPolicy(initial=0.05, maximum=0.3), "config": CONFIG},
            tick=0.1,
            chain_every=0.5,
        )

    return factory


@pytest.fixture
def wizard_and_bridge(
    qtbot: QtBot, make_bridge: Callable[..., EngineBridge], gui_chain: Any, gui_home: Path
) -> tuple[FirstRunWizard, EngineBridge]:
    bridge = make_bridge(node_factory=_fresh_node_factory(gui_chain, gui_home))
    wizard = FirstRunWizard(bridge, balance_poll_ms=200)
    qtbot.addWidget(wizard)
    wizard.resize(900, 620)
    wizard.show()
    bridge.start()
    qtbot.waitUntil(lambda: wizard.next_button.isEnabled(), timeout=WAIT_MS)
    return wizard, bridge


def _child(widget: Any, kind: type, name: str) -> Any:
    found = widget.findChild(kind, name)
    assert found is not None, f"no {kind.__name__} {name!r}"
    return found


def _next(qtbot: QtBot, wizard: FirstRunWizard, kind: type) -> Any:
    qtbot.waitUntil(lambda: wizard.next_button.isEnabled(), timeout=WAIT_MS)
    qtbot.mouseClick(wizard.next_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: isinstance(wizard.current_step(), kind), timeout=WAIT_MS)
    return wizard.current_step()


def test_fresh_home_end_to_end(
    qtbot: QtBot,
    wizard_and_bridge: tuple[FirstRunWizard, EngineBridge],
    gui_chain: Any,
    gui_gateway: Any,
    gui_home: Path,
) -> None:
    wizard, bridge = wizard_and_bridge
    assert wizard.current_step().title == "Check this computer"
    assert wizard.next_button.text() == "&Next"
    assert not wizard.back_button.isEnabled()

    # ---- Wallet: create, keystore passphrase, phrase shown once, three words confirmed.
    wallet = _next(qtbot, wizard, WalletStep)
    assert not wizard.next_button.isEnabled()
    assert wallet.passphrase.isVisibleTo(wallet), "no keyring: a passphrase is asked"
    wallet.passphrase.setText("short")
    wallet.passphrase_again.setText("short")
    qtbot.mouseClick(wallet.choose_button, Qt.MouseButton.LeftButton)
    assert "Passphrase" in wallet.message.text()
    wallet.passphrase.setText(PASSPHRASE)
    wallet.passphrase_again.setText(PASSPHRASE)
    qtbot.mouseClick(wallet.choose_button, Qt.MouseButton.LeftButton)
    assert wallet.passphrase.text() == "" and wallet.passphrase_again.text() == ""
    qtbot.waitUntil(lambda: wallet.pages.currentIndex() == PHRASE, timeout=WAIT_MS)
    words = [
        _child(wallet, QLabel, f"mnemonic_word_{n}").text().split(". ", 1)[1] for n in range(1, 13)
    ]
    assert len(set(words)) > 1
    assert not wallet.phrase_button.isEnabled()
    wallet.wrote_it.setChecked(True)
    qtbot.mouseClick(wallet.phrase_button, Qt.MouseButton.LeftButton)
    assert wallet.pages.currentIndex() == CONFIRM
    fields = [_child(wallet, QLineEdit, f"confirm_word_{i}") for i in range(3)]
    positions = [int(field.property("position")) for field in fields]
    assert positions == sorted(set(positions))
    for field, position in zip(fields, positions, strict=True):
        field.setText(words[position - 1])
    wrong = next(word for word in ("zoo", "abandon", "ability") if word != words[positions[0] - 1])
    fields[0].setText(wrong)
    qtbot.mouseClick(wallet.confirm_button, Qt.MouseButton.LeftButton)
    assert wallet.pages.currentIndex() == CONFIRM
    assert "do not match" in wallet.message.text()
    assert not wizard.next_button.isEnabled()
    fields[0].setText(f"  {words[positions[0] - 1].upper()} ")
    qtbot.mouseClick(wallet.confirm_button, Qt.MouseButton.LeftButton)
    assert wallet.pages.currentIndex() == DONE
    address = wizard.context.wallet_address
    assert address and address in _child(wallet, QLabel, "wallet_done").text()
    assert all(not label.text() for label in wallet.word_labels), "the phrase is dropped"

    # ---- Funding: address, QR code, the balance seen once the test funds the address.
    funding = _next(qtbot, wizard, FundingStep)
    assert funding.address.text() == address
    assert not funding.qr.pixmap().isNull()
    assert "fizz-node devnet faucet" in funding.faucet.text()
    qtbot.waitUntil(lambda: "Waiting for funds" in funding.balance.text(), timeout=WAIT_MS)
    assert not wizard.next_button.isEnabled()
    fund(gui_chain.w3, gui_chain.deployment, address, 10**18, 0)
    qtbot.waitUntil(lambda: funding.ready, timeout=WAIT_MS)
    assert "Gas balance: 1 ETH" in funding.balance.text()

    # ---- Registration: the running gateway is listed with its latency.
    register = _next(qtbot, wizard, RegisterStep)
    gateways = _child(register, QListWidget, "register_gateways")
    qtbot.waitUntil(lambda: gateways.count() > 0, timeout=WAIT_MS)
    ours = [
        gateways.item(row)
        for row in range(gateways.count())
        if gateways.item(row).data(Qt.ItemDataRole.UserRole) == gui_chain.gateway_id
    ]
    assert ours and ours[0].text().endswith(" ms") and gui_gateway.server.url in ours[0].text()
    gateways.setCurrentItem(ours[0])
    register.region.setCurrentIndex(register.region.findData("india"))
    assert register.selected_region() == "india"
    qtbot.mouseClick(register.register_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: register.ready or "failed" in register.state.text(), timeout=60_000)
    assert register.ready, register.state.text()
    assert "Registered as Fizz node" in register.state.text()

    # ---- Price, then Start: the node goes online.
    pricing = _next(qtbot, wizard, PricingStep)
    qtbot.waitUntil(lambda: pricing.ready, timeout=WAIT_MS)
    pricing.editor.set_preset("competitive")
    start = _next(qtbot, wizard, StartStep)
    assert SettingsStore(gui_home / "settings.json").load().pricing.preset == "competitive"
    assert wizard.next_button.text() == "&Finish"
    qtbot.mouseClick(start.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: (
            wizard.context.snapshot is not None
            and wizard.context.snapshot.status is NodeStatus.ONLINE
        ),
        timeout=60_000,
    )
    qtbot.waitUntil(lambda: "online" in start.status.text(), timeout=WAIT_MS)
    with qtbot.waitSignal(wizard.sig_finished, timeout=5_000):
        qtbot.mouseClick(wizard.next_button, Qt.MouseButton.LeftButton)


def test_keyboard_reaches_next(
    qtbot: QtBot, wizard_and_bridge: tuple[FirstRunWizard, EngineBridge]
) -> None:
    wizard, _ = wizard_and_bridge
    wizard.activateWindow()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not None or wizard.isActiveWindow())
    wizard.steps[0].page.recheck_button.setFocus()
    for _ in range(20):
        if QApplication.focusWidget() is wizard.next_button:
            break
        qtbot.keyClick(QApplication.focusWidget() or wizard, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is wizard.next_button
    qtbot.keyClick(wizard.next_button, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: isinstance(wizard.current_step(), WalletStep))
    wallet = wizard.current_step()
    assert isinstance(wallet, WalletStep)
    # Alt+B goes back (the button's mnemonic); Enter on the focused Back button does too.
    wizard.back_button.setFocus()
    qtbot.keyClick(wizard.back_button, Qt.Key.Key_Return)
    assert wizard.current_step() is wizard.steps[0]


def test_import_a_key(
    qtbot: QtBot, wizard_and_bridge: tuple[FirstRunWizard, EngineBridge], gui_chain: Any
) -> None:
    wizard, bridge = wizard_and_bridge
    account = gui_chain.funded()
    wallet = _next(qtbot, wizard, WalletStep)
    wallet.import_radio.setChecked(True)
    assert wallet.secret.isVisibleTo(wallet)
    assert wallet.secret.echoMode() is QLineEdit.EchoMode.Password
    assert wallet.choose_button.text() == "Import wallet"
    wallet.secret.setText("not a key")
    wallet.passphrase.setText(PASSPHRASE)
    wallet.passphrase_again.setText(PASSPHRASE)
    qtbot.mouseClick(wallet.choose_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: wallet.message.isVisibleTo(wallet) and wallet.choose_button.isEnabled())
    qtbot.waitUntil(lambda: "Importing" not in wallet.message.text(), timeout=WAIT_MS)
    assert wallet.pages.currentIndex() != DONE
    assert "not a key" not in wallet.message.text(), "the secret is never echoed"
    wallet.secret.setText(account.key.hex())
    wallet.passphrase.setText(PASSPHRASE)
    wallet.passphrase_again.setText(PASSPHRASE)
    qtbot.mouseClick(wallet.choose_button, Qt.MouseButton.LeftButton)
    assert wallet.secret.text() == ""
    qtbot.waitUntil(lambda: wallet.pages.currentIndex() == DONE, timeout=WAIT_MS)
    assert wizard.context.wallet_address == account.address
    funding = _next(qtbot, wizard, FundingStep)
    qtbot.waitUntil(lambda: funding.ready, timeout=WAIT_MS)
    # The engine unlocks the keystore with the passphrase the wizard gave it.
    info = bridge.submit(lambda node: node.wallet_info()).result(10)
    assert info.exists and info.storage == "keystore"


def test_existing_keystore_wallet_is_unlocked_not_recreated(
    qtbot: QtBot, make_bridge: Callable[..., EngineBridge], gui_chain: Any, gui_home: Path
) -> None:
    account = gui_chain.funded()
    WalletManager(gui_home, None, scrypt_n=16).import_private_key(account.key.hex(), PASSPHRASE)
    bridge = make_bridge(node_factory=_fresh_node_factory(gui_chain, gui_home))
    wizard = FirstRunWizard(bridge, balance_poll_ms=200)
    qtbot.addWidget(wizard)
    wizard.show()
    bridge.start()
    wallet = _next(qtbot, wizard, WalletStep)
    assert wallet.pages.currentIndex() == 3  # UNLOCK
    wallet.unlock_passphrase.setText("wrong passphrase")
    qtbot.mouseClick(wallet.unlock_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: wallet.unlock_button.isEnabled(), timeout=WAIT_MS)
    assert wallet.pages.currentIndex() == 3
    assert "wrong passphrase" not in wallet.message.text()
    wallet.unlock_passphrase.setText(PASSPHRASE)
    qtbot.mouseClick(wallet.unlock_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: wallet.pages.currentIndex() == DONE, timeout=WAIT_MS)
    assert account.address in wallet.done_label.text()
