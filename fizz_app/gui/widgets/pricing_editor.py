"""The asking-price editor: presets or own prices, per-block prices, and the earnings estimate.

Used by the Pricing page and by the first-run wizard's pricing step. How to embed it::

    editor = PricingEditor(bridge, parent)        # connects itself to the bridge
    editor.sig_validity_changed.connect(next_button.setEnabled)
    ...
    future = editor.apply()                       # on "Next": saves, the engine re-announces
    editor.sig_applied.connect(go_on)             # or sig_apply_failed(text) to stay and show it

Nothing here blocks on the engine: it reads the saved pricing with a submitted command when the
engine is ready (``sig_loaded`` follows), previews every change on the GUI thread with
:mod:`fizz_app.core.pricing`, and saves with ``update_section("pricing", ...)``.
"""

from __future__ import annotations

import concurrent.futures
from decimal import Decimal
from typing import Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QLineEdit, QSlider, QWidget

from ...core.errors import SettingsError
from ...core.pricing import EarningsEstimate, PricingError
from ...core.settings_sections import RATE_FIELDS, PricingSettings
from ...core.state import NodeSnapshot
from ..bridge import EngineBridge, EngineNotRunning, describe_error
from .pricing_layout import announced_text, build_pricing_view
from .pricing_model import (
    Preview,
    PricingBase,
    plain,
    preview,
    rate_texts,
    read_pricing,
    save_changes,
    unchanged,
)

__all__ = ["PricingEditor"]


class PricingEditor(QWidget):
    """Preset picker, per-resource prices with validation, the resulting sheet and estimate.

    Signals: ``sig_changed`` (the user changed something), ``sig_validity_changed(bool)``,
    ``sig_loaded`` (the saved prices were read), ``sig_applied(dict)`` (the saved pricing
    section, JSON-ready) and ``sig_apply_failed(str)`` (a message to show). Call
    :meth:`apply` to save, :meth:`reload` to drop the user's changes.

    Args:
        bridge: the engine bridge; the editor connects to ``sig_snapshot`` and
            ``sig_command_finished`` itself.
        parent: the usual Qt parent.
    """

    # ---- Signals

    sig_changed = Signal()
    """The preset, a price or the utilisation changed; see :meth:`is_valid`, :meth:`has_changes`."""
    sig_validity_changed = Signal(bool)
    """Whether :meth:`apply` can save the prices shown now."""
    sig_loaded = Signal()
    """The saved prices were read from the engine; the editor shows them."""
    sig_applied = Signal(object)
    """The engine saved and announced the prices: the pricing section as a JSON-ready dict."""
    sig_apply_failed = Signal(str)
    """Saving failed: the text to show the user (what went wrong and what to do)."""

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pricing_editor")
        self._bridge = bridge
        self._base: PricingBase | None = None
        self._preview: Preview | None = None
        self._valid = False
        self._loading: concurrent.futures.Future[Any] | None = None
        self._saving: dict[concurrent.futures.Future[Any], bool] = {}
        self._filling = False
        self._view = build_pricing_view(self)
        for button in self._view.presets.values():
            button.toggled.connect(self._on_preset_toggled)
        for field in self._view.fields.values():
            field.textEdited.connect(lambda _text: self._on_field_edited())
        self._view.slider.valueChanged.connect(self._on_slider_moved)
        self._update()
        bridge.sig_snapshot.connect(self._on_bridge_snapshot)
        bridge.sig_command_finished.connect(self._on_bridge_command_finished)
        if bridge.is_ready:
            self.reload()

    # ---- Public API

    def is_loaded(self) -> bool:
        """True once the saved prices were read (before that :meth:`apply` fails)."""
        return self._base is not None

    def is_valid(self) -> bool:
        """True when every field is valid and the prices can be saved."""
        return self._valid

    def has_changes(self) -> bool:
        """True when the prices shown differ from the saved ones."""
        return (
            self._base is not None
            and self._preview is not None
            and not unchanged(self._base, self._preview)
        )

    def preset(self) -> str:
        """The chosen preset: ``market``, ``competitive``, ``premium`` or ``custom``."""
        return next(name for name, button in self._view.presets.items() if button.isChecked())

    def set_preset(self, preset: str) -> None:
        """Choose ``preset`` as if the user clicked it."""
        self._view.presets[preset].setChecked(True)

    def price_field(self, resource: str) -> QLineEdit:
        """The field of ``cpu``, ``memory``, ``storage`` or ``gpu`` (USD per unit per month)."""
        return self._view.fields[resource]

    def field_error(self, resource: str) -> str:
        """The validation message shown under ``resource``'s field ("" when none)."""
        label = self._view.errors[resource]
        return label.text() if label.isVisibleTo(self) else ""

    @property
    def utilisation_slider(self) -> QSlider:
        return self._view.slider

    def estimate(self) -> EarningsEstimate | None:
        """The monthly earnings estimate at the slider's utilisation (``None`` when invalid)."""
        sheet = self._preview.sheet if self._preview is not None else None
        return None if sheet is None else sheet.estimate(Decimal(self._view.slider.value()) / 100)

    def estimate_text(self) -> str:
        """The estimate sentence shown under the slider."""
        return self._view.estimate.text()

    def reload(self) -> None:
        """Read the saved prices from the engine again, dropping unsaved changes."""
        if self._loading is not None:
            return
        future = self._bridge.submit(read_pricing)
        self._loading = future
        if future.done():
            self._on_loaded(future)

    def apply(self) -> concurrent.futures.Future[PricingSettings]:
        """Save the prices shown; the engine announces them to the gateway at once.

        Returns the bridge's future (never wait on it on the GUI thread): it resolves to the
        saved :class:`PricingSettings`, or fails with a :class:`PricingError` at once when a
        field is invalid or nothing is loaded yet (nothing is sent then). ``sig_applied`` or
        ``sig_apply_failed`` follows either way.
        """
        if self._base is None or self._preview is None or not self._preview.valid:
            failed: concurrent.futures.Future[PricingSettings] = concurrent.futures.Future()
            message = self._first_problem()
            failed.set_exception(PricingError(message, "", field="pricing"))
            self.sig_apply_failed.emit(message)
            return failed
        changes = dict(self._preview.changes)
        future = self._bridge.submit(lambda node: save_changes(node, changes))
        if future.done():
            self._on_saved(future)
        else:
            self._saving[future] = True
        return future

    # ---- Slots

    @Slot(object)
    def _on_bridge_snapshot(self, snapshot: NodeSnapshot) -> None:
        """Show the prices the node announces; read the saved ones once the check has run."""
        if self._base is None and snapshot.hardware is not None:
            self.reload()
        self._view.announced.setText(announced_text(snapshot.prices))

    @Slot(object)
    def _on_bridge_command_finished(self, future: concurrent.futures.Future[Any]) -> None:
        if future is self._loading:
            self._on_loaded(future)
        elif self._saving.pop(future, False):
            self._on_saved(future)

    # ---- Private API

    def _on_loaded(self, future: concurrent.futures.Future[PricingBase | None]) -> None:
        self._loading = None
        error = future.exception()
        if error is not None:
            if not isinstance(error, EngineNotRunning):
                self._view.problem.setText(f"The prices cannot be read. {describe_error(error)}")
            return
        base = future.result()
        if base is None:
            return  # the system check has not run yet: the next snapshot asks again
        self._base = base
        self._fill(base.pricing)
        self.sig_loaded.emit()

    def _on_saved(self, future: concurrent.futures.Future[PricingSettings]) -> None:
        error = future.exception()
        if error is not None:
            text = describe_error(error)
            field = getattr(error, "field", None) or ""
            if isinstance(error, SettingsError) and field.startswith("pricing."):
                for name, rate_field in RATE_FIELDS.items():
                    if field == f"pricing.{rate_field}":
                        self._show_error(name, text)
            self.sig_apply_failed.emit(text)
            return
        saved = future.result()
        if self._base is not None:
            self._base = PricingBase(saved, self._base.offer, self._base.units, self._base.table)
        self._update()
        self.sig_applied.emit(saved.model_dump(mode="json"))

    def _fill(self, pricing: PricingSettings) -> None:
        """Show ``pricing``: its preset chosen and its effective rates in the fields."""
        assert self._base is not None
        self._filling = True
        self._view.presets[pricing.preset].setChecked(True)
        for name, text in rate_texts(self._base, pricing).items():
            self._view.fields[name].setText(text)
        self._filling = False
        self._update()

    def _on_preset_toggled(self, checked: bool) -> None:
        if not checked or self._filling:
            return
        preset = self.preset()
        if (
            self._base is not None and preset != "custom"
        ):  # show the preset's rates; "custom" starts from what is shown
            pricing = PricingSettings.model_validate(self._base.pricing.with_preset(preset))
            self._filling = True
            for name, text in rate_texts(self._base, pricing).items():
                self._view.fields[name].setText(text)
            self._filling = False
        self._update()

    def _on_field_edited(self) -> None:
        if not self._filling:
            self._update()

    def _update(self) -> None:
        base = self._base
        custom = self.preset() == "custom"
        for name, field in self._view.fields.items():
            offered = base is not None and (name != "gpu" or base.offers_gpu)
            field.setEnabled(custom and offered)
            field.setReadOnly(not custom)
        if base is None:
            self._set_valid(False)
            return
        texts = {name: field.text() for name, field in self._view.fields.items()}
        self._preview = preview(base, self.preset(), texts)
        for name in self._view.fields:
            self._show_error(name, self._preview.errors.get(name, ""))
        self._view.problem.setText(self._preview.problem)
        self._render_sheet()
        self._set_valid(self._preview.valid)
        self.sig_changed.emit()

    def _set_valid(self, valid: bool) -> None:
        if valid != self._valid:
            self._valid = valid
            self.sig_validity_changed.emit(valid)

    def _show_error(self, resource: str, text: str) -> None:
        label = self._view.errors[resource]
        label.setText(text)
        label.setVisible(bool(text))
        self._view.fields[resource].setAccessibleDescription(text)

    def _first_problem(self) -> str:
        if self._base is None:
            return "The prices are not loaded yet. Wait until the system check has run."
        assert self._preview is not None
        errors = list(self._preview.errors.values())
        return errors[0] if errors else self._preview.problem or "The prices are not valid."

    def _render_sheet(self) -> None:
        assert self._base is not None
        sheet = self._preview.sheet if self._preview is not None else None
        units = self._base.units
        offered = {
            "cpu": f"{units.cpu_units} threads",
            "memory": f"{units.memory_gb} GB",
            "storage": f"{units.storage_gb} GB",
            "gpu": f"{units.gpu_units} × {units.gpu_model}" if units.gpu_units else "none",
        }
        per_block = sheet.per_block() if sheet else {}
        monthly = sheet.totals_usd_month() if sheet else {}
        for name, labels in self._view.sheet_rows.items():
            labels[0].setText(offered[name])
            block = per_block.get(name)
            labels[1].setText("—" if block is None else plain(block))
            month = monthly.get(name)
            labels[2].setText("—" if month is None else f"{plain(month, 2)} USD")
        if sheet is None:
            self._view.total.setText("Fix the prices above to see what the node would ask.")
        else:
            self._view.total.setText(
                f"Everything rented: {plain(sheet.monthly_total_usd(), 2)} USD a month "
                f"({sheet.total_per_block()} base units of {sheet.token.symbol} per block)."
            )
        self._on_slider_moved(self._view.slider.value())

    def _on_slider_moved(self, value: int) -> None:
        self._view.slider_value.setText(f"{value} %")
        estimate = self.estimate()
        if estimate is None:
            self._view.estimate.setText("No estimate while a price is not valid.")
            return
        share = plain(estimate.operator_share * 100, 0)
        self._view.estimate.setText(
            f"About {plain(estimate.net_usd, 2)} USD a month "
            f"({plain(estimate.net_tokens, 2)} {estimate.token}) when rented {value} % of the "
            f"time, after the network's fees (you keep {share} %)."
        )
        self.sig_changed.emit()
