"""The desktop interface (PySide6): the only package that imports Qt.

Import :mod:`fizz_app.gui.app` inside a function (see :mod:`fizz_app.launcher`); when PySide6
or the system libraries it needs are missing, that import raises :class:`GuiUnavailable` with
a message saying what to install.
"""

from __future__ import annotations

__all__ = ["GuiUnavailable", "require_qt"]


class GuiUnavailable(ImportError):
    """The desktop interface cannot load on this machine; the message says why and what to do."""


def require_qt() -> None:
    """Raise :class:`GuiUnavailable` unless PySide6 and its native libraries load."""
    try:
        import PySide6.QtWidgets  # noqa: F401
    except ImportError as error:
        missing = str(error)
        if "PySide6" in missing and "No module" in missing:
            hint = "Install it with: pip install PySide6-Essentials"
        else:
            # PySide6 is there but a system library is not (libEGL, libxkbcommon...).
            hint = (
                "A system library Qt needs is missing; on Debian/Ubuntu install "
                "libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3"
            )
        raise GuiUnavailable(
            f"Qt for Python (PySide6) cannot be loaded: {missing}. {hint}."
        ) from None
