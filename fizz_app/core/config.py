"""The user's settings: a typed, validated model with a schema version, stored as JSON.

Use :class:`SettingsStore`: ``load()`` returns defaults when no file exists yet, migrates older
schemas, and raises :class:`~fizz_app.core.errors.SettingsError` naming the bad field for a
hand-edited bad file. A bad file is never overwritten: ``save()`` first moves it aside to
``settings.invalid-<time>.json``. Every write is atomic.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .atomic import write_atomic
from .errors import SettingsError
from .validation import first_problem

__all__ = ["SCHEMA_VERSION", "NodeSettings", "Settings", "SettingsStore"]

log = logging.getLogger(__name__)

SCHEMA_VERSION: Literal[1] = 1
"""Version of the settings file this build writes. Bump it and add a migration for every
change that an older file would not validate against."""

_FIX_BY_HAND = "Fix that line in the file, or delete the file to start again from the defaults."


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class NodeSettings(_Model):
    """How the node presents itself on the network."""

    region: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9-]{1,31}$")
    """Region code from the network's list (``us-east``, ``india``...); ``None`` until chosen."""
    gateway_id: int | None = Field(default=None, ge=1)
    """The gateway (provider id) the node links to; ``None`` until chosen."""


class Settings(_Model):
    """Everything the user can set. Immutable: derive a changed copy with ``model_copy``."""

    schema_version: Literal[1] = SCHEMA_VERSION
    network: str = Field(default="devnet", pattern=r"^[a-z0-9][a-z0-9-]{0,40}$")
    """Network profile: ``devnet`` (local), ``base-sepolia`` or ``base``."""
    rpc_url: str | None = Field(default=None, pattern=r"^(https?|wss?)://[^\s]+$")
    """A custom RPC endpoint for ``network`` instead of the profile's public ones."""
    requirements_profile: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{0,40}$")
    """Requirement profile for the system check; ``None`` follows the network."""
    storage_dir: Path | None = None
    """Where lease data goes; ``None`` means ``jobs/`` in the data folder."""
    node: NodeSettings = NodeSettings()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    def effective_profile(self) -> str:
        """The requirement profile to check against: the chosen one, or the network's."""
        if self.requirements_profile:
            return self.requirements_profile
        return "devnet" if self.network == "devnet" else "spheron-fizz"

    def effective_storage_dir(self, data_dir: Path) -> Path:
        """The folder that holds lease data."""
        return self.storage_dir if self.storage_dir is not None else data_dir / "jobs"


# ---- Migrations ---------------------------------------------------------------------------------
# Each entry turns a raw dict of schema N into schema N + 1.


def _from_v0(raw: dict[str, Any]) -> dict[str, Any]:
    # Schema 0: development builds wrote no version and kept region/gateway at the top level.
    migrated = {k: v for k, v in raw.items() if k not in ("region", "gateway_id")}
    node = {k: raw[k] for k in ("region", "gateway_id") if k in raw}
    if node:
        migrated["node"] = {**node, **raw.get("node", {})}
    return migrated


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {0: _from_v0}


def migrate(raw: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Bring a raw settings dict to :data:`SCHEMA_VERSION`; returns it and its original version.

    Raises:
        ValueError: the version is not an integer, or newer than this build understands.
    """
    version = raw.get("schema_version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise ValueError(f"schema_version must be a whole number, found {version!r}")
    if version > SCHEMA_VERSION:
        raise ValueError(
            f"it was written by a newer Fizz Node (settings schema {version}; this version "
            f"reads up to {SCHEMA_VERSION})"
        )
    original = version
    while version < SCHEMA_VERSION:
        raw = MIGRATIONS[version](raw)
        version += 1
        raw["schema_version"] = version
    return raw, original


# ---- Store --------------------------------------------------------------------------------------


class SettingsStore:
    """Loads and saves :class:`Settings` at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> Settings:
        """Return the saved settings, or the defaults when no file exists.

        A file of an older schema is migrated and saved back (the original is kept beside it as
        ``settings.v<N>.json``).

        Raises:
            SettingsError: the file is unreadable, not JSON, of a newer schema, or has a bad
                field (named in the message). The file is left as it is.
        """
        if not self.path.exists():
            return Settings()
        raw = self._read_raw()
        try:
            migrated, original_version = migrate(raw)
        except ValueError as error:
            remedy = (
                "Update Fizz Node to the newest version." if "newer" in str(error) else _FIX_BY_HAND
            )
            raise SettingsError(
                f"Settings file {self.path} cannot be used: {error}.",
                remedy + " The file was left untouched.",
                path=str(self.path),
                field="schema_version",
            ) from None
        settings = self._validate(migrated)
        if original_version != SCHEMA_VERSION:
            backup = self.path.with_name(f"{self.path.stem}.v{original_version}.json")
            backup.write_bytes(self.path.read_bytes())
            self.save(settings)
            log.info("settings migrated from schema %d (backup: %s)", original_version, backup)
        return settings

    def save(self, settings: Settings) -> None:
        """Write ``settings`` atomically. An existing invalid file is first moved aside."""
        if self.path.exists() and not self._is_valid_file():
            stamp = time.strftime("%Y%m%d-%H%M%S")
            kept = self.path.with_name(f"{self.path.stem}.invalid-{stamp}.json")
            self.path.replace(kept)
            log.warning("kept the invalid settings file as %s", kept)
        text = settings.model_dump_json(indent=2) + "\n"
        write_atomic(self.path, text.encode("utf-8"))

    def update(self, **changes: Any) -> Settings:
        """Load, apply ``changes`` (validated like a loaded file), save, and return the result.

        Raises:
            SettingsError: a change is invalid (nothing is written) or the file on disk is bad.
        """
        current = self.load().model_dump(mode="json")
        current.update(changes)
        updated = self._validate(current, source="the new value")
        self.save(updated)
        return updated

    # ---- Private API

    def _read_raw(self) -> dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise SettingsError(
                f"Settings file {self.path} cannot be read ({error}).",
                "Check the file's permissions, or delete it to start from the defaults.",
                path=str(self.path),
            ) from None
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as error:
            raise SettingsError(
                f"Settings file {self.path} is not valid JSON: line {error.lineno}, "
                f"column {error.colno}: {error.msg}.",
                f"{_FIX_BY_HAND} The file was left untouched.",
                path=str(self.path),
            ) from None
        if not isinstance(raw, dict):
            raise SettingsError(
                f"Settings file {self.path} must hold a JSON object, not {type(raw).__name__}.",
                f"{_FIX_BY_HAND} The file was left untouched.",
                path=str(self.path),
            )
        return raw

    def _validate(self, raw: dict[str, Any], source: str = "") -> Settings:
        try:
            return Settings.model_validate(raw)
        except ValidationError as error:
            problem = first_problem(error)
            field = problem.field
            if problem.unknown:
                what = f"has an unknown field {field!r}"
                hint = "Check its spelling, or remove it."
            else:
                what = f"has a bad value for {field!r}: {problem.message} (found {problem.value!r})"
                hint = _FIX_BY_HAND
            where = source or f"Settings file {self.path}"
            untouched = " The file was left untouched." if not source else ""
            raise SettingsError(
                f"{where} {what}.", f"{hint}{untouched}", path=str(self.path), field=field
            ) from None

    def _is_valid_file(self) -> bool:
        try:
            self._validate(migrate(self._read_raw())[0])
        except (SettingsError, ValueError):
            return False
        return True
