"""What every first-run wizard step has: a title, a "ready" flag, and hooks the wizard calls.

A step is a :class:`WizardStep` widget. The wizard calls :meth:`WizardStep.enter` each time it
is shown and :meth:`WizardStep.show_snapshot` with every snapshot; the step says whether Next
may be pressed with :meth:`WizardStep.set_ready` (``sig_ready_changed``).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ....core.state import NodeSnapshot
from ...bridge import EngineBridge
from ...widgets.tones import Tone, set_tone
from .calls import EngineCalls

__all__ = ["WizardContext", "WizardStep", "set_message", "text_label", "title_label"]


class WizardContext:
    """What the steps share: the bridge, the calls helper and the wizard's findings.

    Attributes:
        wallet_exists / wallet_address / wallet_storage: from ``wallet_info()``.
        needs_passphrase: new wallets go to the passphrase-encrypted file.
        unlocked: the engine has the passphrase of a keystore wallet (or needs none).
        registered: the settings name the region and gateway ``register()`` saved.
        snapshot: the latest snapshot.
    """

    def __init__(self, bridge: EngineBridge, calls: EngineCalls) -> None:
        self.bridge = bridge
        self.calls = calls
        self.wallet_exists = False
        self.wallet_address: str | None = None
        self.wallet_storage: str | None = None
        self.needs_passphrase = False
        self.unlocked = False
        self.registered = False
        self.funded = False
        self.snapshot: NodeSnapshot | None = None


class WizardStep(QWidget):
    """Base of the wizard's steps; subclasses build their widgets into :attr:`body`."""

    # ---- Signals

    sig_ready_changed = Signal(bool)
    """Whether the wizard's Next button may be pressed now."""

    title = ""
    """Shown above the step and in the wizard's step list."""

    def __init__(self, context: WizardContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self._ready = False
        self.body = QVBoxLayout(self)
        self.body.setContentsMargins(24, 16, 24, 8)
        self.body.setSpacing(10)

    # ---- Public API

    @property
    def ready(self) -> bool:
        return self._ready

    def set_ready(self, ready: bool) -> None:
        """Say whether the user may go on from this step."""
        if ready != self._ready:
            self._ready = ready
            self.sig_ready_changed.emit(ready)

    def should_skip(self) -> bool:
        """True when what this step does is done already (the wizard then passes it by)."""
        return False

    def enter(self) -> None:
        """Called each time the step is shown; start what it needs (queries, polling)."""

    def leave(self) -> None:
        """Called when the wizard moves away from the step; stop timers, clear secrets."""

    def forget(self) -> None:
        """Called when the wizard closes: drop any secret the step still holds."""

    def show_snapshot(self, snapshot: NodeSnapshot) -> None:
        """Called with every snapshot while the wizard is open."""


def title_label(parent: QWidget, text: str) -> QLabel:
    label = QLabel(text, parent)
    label.setObjectName("step_title")
    font = QFont(label.font())
    if font.pointSizeF() > 0:
        font.setPointSizeF(font.pointSizeF() * 1.4)
    font.setBold(True)
    label.setFont(font)
    label.setAccessibleName(text)
    return label


def text_label(
    parent: QWidget, object_name: str, text: str = "", *, selectable: bool = False
) -> QLabel:
    """A wrapping plain-text label (engine text is never read as HTML)."""
    label = QLabel(text, parent)
    label.setObjectName(object_name)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def set_message(label: QLabel, text: str, *, error: bool = False, ok: bool = False) -> None:
    """Show ``text`` in ``label``: red for an error, green for success, plain otherwise."""
    label.setText(text)
    set_tone(label, Tone.ERROR if error else Tone.OK if ok else None)
    label.setVisible(bool(text))
