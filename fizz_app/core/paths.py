"""Where the app keeps its files.

Everything lives under one data folder: the platform's user data dir (platformdirs), or the
folder named by the ``FIZZ_HOME`` environment variable, which tests and side-by-side installs
use to stay isolated.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

__all__ = ["APP_NAME", "data_dir", "log_dir", "settings_path", "resources_dir"]

APP_NAME = "FizzNode"
"""Folder name under the platform's user data dir."""

FIZZ_HOME_ENV = "FIZZ_HOME"
"""Environment variable that overrides the data folder."""


def data_dir() -> Path:
    """Return the data folder (not created here; writers create what they need)."""
    override = os.environ.get(FIZZ_HOME_ENV, "").strip()
    if override:
        return Path(override).expanduser().absolute()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False, roaming=True))


def log_dir() -> Path:
    """Return the folder for the rotating log files."""
    return data_dir() / "logs"


def settings_path() -> Path:
    """Return the settings file's path."""
    return data_dir() / "settings.json"


def resources_dir() -> Path:
    """Return the folder with the app's data files (requirement profiles, networks, art).

    In a source checkout that is ``resources/`` at the repository root; in a PyInstaller bundle
    it is ``resources/`` beside the frozen modules. ``FIZZ_RESOURCES`` overrides both.
    """
    override = os.environ.get("FIZZ_RESOURCES", "").strip()
    if override:
        return Path(override)
    bundle_root = getattr(sys, "_MEIPASS", None)
    if bundle_root is not None:
        return Path(bundle_root) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"
