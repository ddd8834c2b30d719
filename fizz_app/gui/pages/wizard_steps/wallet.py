"""Wizard step 2: the node wallet — create one (recovery phrase shown once, three words
confirmed), import one (phrase or private key), or unlock the existing passphrase-protected one.

Secrets stay in this step only as long as needed: the passphrase and the imported secret fields
are cleared as soon as the command is sent, the phrase once the user confirmed it (or left).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFormLayout,
    QGridLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ....core.node import Node
from ....core.wallet import MIN_PASSPHRASE_LENGTH, challenge_positions, check_confirmation
from .base import WizardContext, WizardStep, set_message, text_label, title_label

__all__ = ["WalletStep"]

CHOOSE, PHRASE, CONFIRM, UNLOCK, DONE = range(5)


def _secret_field(parent: QWidget, name: str, placeholder: str) -> QLineEdit:
    field = QLineEdit(parent)
    field.setObjectName(name)
    field.setEchoMode(QLineEdit.EchoMode.Password)
    field.setPlaceholderText(placeholder)
    field.setAccessibleName(placeholder)
    return field


def _page(parent: QWidget, intro_name: str = "", intro: str = "") -> tuple[QWidget, QVBoxLayout]:
    """A page of the step's inner stack and its layout, opened by an intro paragraph when
    ``intro`` is given."""
    page = QWidget(parent)
    layout = QVBoxLayout(page)
    layout.setContentsMargins(0, 0, 0, 0)
    if intro:
        layout.addWidget(text_label(page, intro_name, intro))
    return page, layout


def _button(parent: QWidget, name: str, text: str) -> QPushButton:
    button = QPushButton(text, parent)
    button.setObjectName(name)
    button.setAutoDefault(True)  # Enter on the focused button presses it
    return button


class WalletStep(WizardStep):
    """Creates, imports or unlocks the node wallet; ready once the engine can use it."""

    title = "Your node wallet"

    def __init__(self, context: WizardContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        self._mnemonic: str | None = None
        self._positions: list[int] = []
        self.body.addWidget(title_label(self, self.title))
        self.body.addWidget(
            text_label(
                self,
                "wallet_intro",
                "Fizz Node pays you into a wallet that lives on this computer. It also signs "
                "what the node tells the network.",
            )
        )
        self.pages = QStackedWidget(self)
        self.pages.setObjectName("wallet_pages")
        for build in (
            self._build_choose,
            self._build_phrase,
            self._build_confirm,
            self._build_unlock,
            self._build_done,
        ):
            self.pages.addWidget(build())
        self.body.addWidget(self.pages, 1)
        self.message = text_label(self, "wallet_message", selectable=True)
        self.message.hide()
        self.body.addWidget(self.message)

    # ---- Public API

    def should_skip(self) -> bool:
        return self.context.wallet_exists and self.context.unlocked and self._mnemonic is None

    def enter(self) -> None:
        context = self.context
        if self._mnemonic is not None:
            return  # a new phrase still waits for its confirmation: stay on it
        set_message(self.message, "")
        if context.wallet_exists and context.unlocked:
            self._show_done()
        elif context.wallet_exists:
            self.pages.setCurrentIndex(UNLOCK)
            self.unlock_passphrase.setFocus()
        elif self._mnemonic is None:
            self._show_choose()

    def leave(self) -> None:
        """Clear typed secrets; a phrase not yet confirmed stays until it is (or the wizard
        closes: :meth:`forget`)."""
        for field in (self.secret, self.passphrase, self.passphrase_again, self.unlock_passphrase):
            field.clear()

    def forget(self) -> None:
        """Drop every secret this step holds (the wizard calls it when it closes)."""
        self._clear_secrets()

    # ---- Building

    def _build_choose(self) -> QWidget:
        page, layout = _page(self)
        self.create_radio = QRadioButton("Create a new wallet (recommended)", page)
        self.create_radio.setObjectName("wallet_create_radio")
        self.import_radio = QRadioButton("Use a wallet I already have", page)
        self.import_radio.setObjectName("wallet_import_radio")
        group = QButtonGroup(page)
        group.addButton(self.create_radio)
        group.addButton(self.import_radio)
        self.create_radio.setChecked(True)
        self.create_radio.toggled.connect(self._on_mode_toggled)
        form = QFormLayout()
        self.secret = _secret_field(page, "wallet_secret", "Recovery phrase or private key")
        self.show_secret = QCheckBox("Show", page)
        self.show_secret.setObjectName("wallet_show_secret")
        self.show_secret.toggled.connect(self._on_show_secret_toggled)
        self.passphrase = _secret_field(page, "wallet_passphrase", "Passphrase")
        self.passphrase_again = _secret_field(page, "wallet_passphrase_again", "Passphrase again")
        form.addRow("Phrase or key:", self.secret)
        form.addRow("", self.show_secret)
        form.addRow("Passphrase:", self.passphrase)
        form.addRow("Repeat it:", self.passphrase_again)
        self._form = form
        self.passphrase_hint = text_label(
            page,
            "wallet_passphrase_hint",
            "This computer has no system keyring, so the wallet is kept in a file locked with "
            f"a passphrase ({MIN_PASSPHRASE_LENGTH} characters or more). You will type it "
            "when Fizz Node starts.",
        )
        self.choose_button = _button(page, "wallet_action", "Create wallet")
        self.choose_button.clicked.connect(self._on_choose_clicked)
        for widget in (self.create_radio, self.import_radio):
            layout.addWidget(widget)
        layout.addLayout(form)
        layout.addWidget(self.passphrase_hint)
        layout.addWidget(self.choose_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addStretch(1)
        return page

    def _build_phrase(self) -> QWidget:
        page, layout = _page(
            self,
            "phrase_intro",
            "Write these 12 words on paper, in order, and keep them safe. They are the only "
            "way to recover your wallet and earnings if this computer is lost. They are "
            "shown only this once; never type them into a website.",
        )
        grid = QGridLayout()
        self.word_labels: list[QLabel] = []
        for index in range(12):
            label = QLabel(page)
            label.setObjectName(f"mnemonic_word_{index + 1}")
            label.setTextFormat(Qt.TextFormat.PlainText)
            label.setStyleSheet("font-family: monospace; font-size: 13pt; padding: 4px;")
            grid.addWidget(label, index // 3, index % 3)
            self.word_labels.append(label)
        layout.addLayout(grid)
        self.wrote_it = QCheckBox("I wrote the 12 words down on paper", page)
        self.wrote_it.setObjectName("wallet_wrote_it")
        self.phrase_button = _button(page, "wallet_phrase_continue", "Continue")
        self.phrase_button.setEnabled(False)
        self.wrote_it.toggled.connect(self.phrase_button.setEnabled)
        self.phrase_button.clicked.connect(self._on_phrase_continue_clicked)
        layout.addWidget(self.wrote_it)
        layout.addWidget(self.phrase_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addStretch(1)
        return page

    def _build_confirm(self) -> QWidget:
        page, layout = _page(
            self, "confirm_intro", "To be sure you have them, type these words back."
        )
        form = QFormLayout()
        self.confirm_fields: list[QLineEdit] = []
        self.confirm_labels: list[QLabel] = []
        for index in range(3):
            label = QLabel(page)
            field = QLineEdit(page)
            field.setObjectName(f"confirm_word_{index}")
            field.returnPressed.connect(self._on_confirm_clicked)
            form.addRow(label, field)
            self.confirm_labels.append(label)
            self.confirm_fields.append(field)
        layout.addLayout(form)
        self.confirm_button = _button(page, "wallet_confirm", "Confirm")
        self.confirm_button.clicked.connect(self._on_confirm_clicked)
        back = _button(page, "wallet_show_phrase_again", "Show the words again")
        back.clicked.connect(lambda: self.pages.setCurrentIndex(PHRASE))
        layout.addWidget(self.confirm_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(back, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addStretch(1)
        return page

    def _build_unlock(self) -> QWidget:
        page, layout = _page(
            self,
            "unlock_intro",
            "This node's wallet is kept in a file locked with a passphrase. Type it so the "
            "node can register and go online.",
        )
        self.unlock_passphrase = _secret_field(page, "wallet_unlock_passphrase", "Passphrase")
        self.unlock_passphrase.returnPressed.connect(self._on_unlock_clicked)
        self.unlock_button = _button(page, "wallet_unlock", "Unlock")
        self.unlock_button.clicked.connect(self._on_unlock_clicked)
        layout.addWidget(self.unlock_passphrase)
        layout.addWidget(self.unlock_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addStretch(1)
        return page

    def _build_done(self) -> QWidget:
        page, layout = _page(self)
        self.done_label = text_label(page, "wallet_done", selectable=True)
        layout.addWidget(self.done_label)
        layout.addStretch(1)
        return page

    # ---- Pages

    def _show_choose(self) -> None:
        self.pages.setCurrentIndex(CHOOSE)
        self._on_mode_toggled()
        self.create_radio.setFocus()

    def _show_done(self) -> None:
        address = self.context.wallet_address or ""
        where = {"keyring": "the system keyring", "keystore": "a passphrase-locked file"}.get(
            self.context.wallet_storage or "", "this computer"
        )
        self.done_label.setText(
            f"Your node wallet is ready: {address}\nIts key is kept in {where}."
        )
        self.pages.setCurrentIndex(DONE)
        self.set_ready(True)

    def _on_mode_toggled(self, *_: Any) -> None:
        importing = self.import_radio.isChecked()
        needs = self.context.needs_passphrase
        for field in (self.secret, self.show_secret):
            self._form.setRowVisible(field, importing)
        for field in (self.passphrase, self.passphrase_again):
            self._form.setRowVisible(field, needs)
        self.passphrase_hint.setVisible(needs)
        self.choose_button.setText("Import wallet" if importing else "Create wallet")

    def _on_show_secret_toggled(self, shown: bool) -> None:
        mode = QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password
        self.secret.setEchoMode(mode)

    # ---- Commands

    def _take_passphrase(self) -> str | None:
        """The new passphrase when one is needed; shows what is wrong and returns "" if bad."""
        if not self.context.needs_passphrase:
            return None
        first, again = self.passphrase.text(), self.passphrase_again.text()
        if len(first) < MIN_PASSPHRASE_LENGTH:
            set_message(
                self.message,
                f"Passphrase: use {MIN_PASSPHRASE_LENGTH} characters or more.",
                error=True,
            )
            return ""
        if first != again:
            set_message(self.message, "Repeat the passphrase: the two do not match.", error=True)
            return ""
        return first

    def _on_choose_clicked(self) -> None:
        importing = self.import_radio.isChecked()
        secret = self.secret.text().strip()
        if importing and not secret:
            set_message(
                self.message, "Phrase or key: paste your recovery phrase or key.", error=True
            )
            return
        passphrase = self._take_passphrase()
        if passphrase == "":
            return
        for field in (self.secret, self.passphrase, self.passphrase_again):
            field.clear()
        self.choose_button.setEnabled(False)
        set_message(self.message, "Importing the wallet…" if importing else "Creating the wallet…")

        async def create(node: Node) -> Any:
            created = await node.create_wallet(passphrase)
            await node.set_passphrase(passphrase)
            return created

        async def restore(node: Node) -> Any:
            address = await node.import_wallet(secret, passphrase)
            await node.set_passphrase(passphrase)
            return address

        if importing:
            self.context.calls.call(restore, self._on_imported, self._on_wallet_failed)
        else:
            self.context.calls.call(create, self._on_created, self._on_wallet_failed)

    def _on_wallet_failed(self, text: str) -> None:
        self.choose_button.setEnabled(True)
        set_message(self.message, text, error=True)

    def _on_created(self, created: Any) -> None:
        self.choose_button.setEnabled(True)
        set_message(self.message, "")
        self.context.wallet_exists = True
        self.context.unlocked = True
        self.context.wallet_address = created.address
        self.context.wallet_storage = str(created.storage)
        self._mnemonic = created.mnemonic
        words = created.mnemonic.split()
        for index, label in enumerate(self.word_labels):
            label.setText(f"{index + 1}. {words[index]}" if index < len(words) else "")
        self.wrote_it.setChecked(False)
        self.pages.setCurrentIndex(PHRASE)
        self.wrote_it.setFocus()

    def _on_imported(self, address: Any) -> None:
        self.choose_button.setEnabled(True)
        self.context.wallet_exists = True
        self.context.unlocked = True
        self.context.wallet_address = str(address)
        self.context.wallet_storage = "keystore" if self.context.needs_passphrase else "keyring"
        set_message(self.message, "Wallet imported.", ok=True)
        self._show_done()

    def _on_phrase_continue_clicked(self) -> None:
        self._positions = challenge_positions(word_count=len(self.word_labels))
        for label, field, position in zip(
            self.confirm_labels, self.confirm_fields, self._positions, strict=True
        ):
            label.setText(f"Word {position}:")
            field.setProperty("position", position)
            field.setAccessibleName(f"Word number {position}")
            field.clear()
        self.pages.setCurrentIndex(CONFIRM)
        self.confirm_fields[0].setFocus()

    def _on_confirm_clicked(self) -> None:
        if self._mnemonic is None:
            return
        answers = {
            position: field.text()
            for position, field in zip(self._positions, self.confirm_fields, strict=True)
        }
        if not check_confirmation(self._mnemonic, answers):
            set_message(
                self.message,
                "Those words do not match your phrase. Check your paper, or show the words "
                "again and correct what you wrote.",
                error=True,
            )
            return
        set_message(self.message, "Recovery phrase confirmed.", ok=True)
        self._clear_secrets()
        self._show_done()

    def _on_unlock_clicked(self) -> None:
        passphrase = self.unlock_passphrase.text()
        if not passphrase:
            set_message(self.message, "Passphrase: type the wallet's passphrase.", error=True)
            return
        self.unlock_passphrase.clear()
        self.unlock_button.setEnabled(False)
        set_message(self.message, "Unlocking…")
        self.context.calls.call(
            lambda node: node.set_passphrase(passphrase), self._on_unlocked, self._on_unlock_failed
        )

    def _on_unlocked(self, _result: Any) -> None:
        self.unlock_button.setEnabled(True)
        self.context.unlocked = True
        set_message(self.message, "Wallet unlocked.", ok=True)
        self._show_done()

    def _on_unlock_failed(self, text: str) -> None:
        self.unlock_button.setEnabled(True)
        set_message(self.message, text, error=True)
        self.unlock_passphrase.setFocus()

    def _clear_secrets(self) -> None:
        self._mnemonic = None
        for label in self.word_labels:
            label.clear()
        for field in (
            *self.confirm_fields,
            self.secret,
            self.passphrase,
            self.passphrase_again,
            self.unlock_passphrase,
        ):
            field.clear()
