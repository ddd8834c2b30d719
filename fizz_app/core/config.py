"""The user's settings: a typed, validated model with a schema version, stored as JSON.

Use :class:`SettingsStore`: ``load()`` returns defaults when no file exists yet, migrates older
schemas, and raises :class:`~fizz_app.core.errors.SettingsError` naming the bad field for a
hand-edited bad file. A bad file is never overwritten: ``save()`` first moves it aside to
``settings.invalid-<time>.json``. Every write is atomic. A running node sees changes other
processes make through :meth:`SettingsStore.load_if_changed`.

Schema 2 added ``pricing`` (:class:`~fizz_app.core.settings_sections.PricingSettings`) and
``limits`` (:class:`~fizz_app.core.policy.ResourcePolicy`).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .atomic import write_atomic
from .chain_health import MASK, public_url
from .errors import SettingsError
from .offer import offer_from_report
from .policy import ResourcePolicy, units_offered
from .pricing import PriceSheet, TierTable
from .report import HardwareReport
from .settings_sections import OWN_ERROR_TYPE, PricingSettings
from .validation import first_problem

__all__ = [
    "SCHEMA_VERSION",
    "Fingerprint",
    "NodeSettings",
    "PricingSettings",
    "Settings",
    "SettingsChange",
    "SettingsStore",
]

log = logging.getLogger(__name__)

SCHEMA_VERSION: Literal[2] = 2
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

    schema_version: Literal[2] = SCHEMA_VERSION
    network: str = Field(default="devnet", pattern=r"^[a-z0-9][a-z0-9-]{0,40}$")
    """Network profile: ``devnet`` (local), ``base-sepolia`` or ``base``."""
    rpc_url: str | None = Field(default=None, pattern=r"^(https?|wss?)://[^\s]+$", repr=False)
    """A custom RPC endpoint for ``network`` instead of the profile's public ones. It often
    holds an API key (``/v2/<key>``, ``?apikey=``, ``user:password@``): it stays in the
    settings file (readable by the user only) and leaves the core only as :meth:`public`
    shows it."""
    requirements_profile: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{0,40}$")
    """Requirement profile for the system check; ``None`` follows the network."""
    storage_dir: Path | None = None
    """Where lease data goes; ``None`` means ``jobs/`` in the data folder."""
    node: NodeSettings = NodeSettings()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    pricing: PricingSettings = PricingSettings()
    """Asking prices and accepted tokens."""
    limits: ResourcePolicy = ResourcePolicy()
    """What may be rented out, and when (caps, idle-only, battery, schedule...)."""

    def public(self) -> Settings:
        """These settings as front ends, events, logs and printouts may show them: a custom
        ``rpc_url`` with its credentials and keys masked (:func:`~fizz_app.core.chain_health.
        public_url`: ``https://rpc.example/v2/***``). Show it, never save it: to keep the
        saved address, leave ``rpc_url`` out of a change (:meth:`SettingsStore.update` keeps
        the real one when given back exactly this masked form)."""
        if self.rpc_url is None:
            return self
        return self.model_copy(update={"rpc_url": public_url(self.rpc_url)})

    def public_dict(self) -> dict[str, Any]:
        """:meth:`public` as JSON-ready data (what ``SettingsChanged`` carries)."""
        return self.public().model_dump(mode="json")

    def effective_profile(self) -> str:
        """The requirement profile to check against: the chosen one, or the network's."""
        if self.requirements_profile:
            return self.requirements_profile
        return "devnet" if self.network == "devnet" else "spheron-fizz"

    def effective_storage_dir(self, data_dir: Path) -> Path:
        """The folder that holds lease data."""
        return self.storage_dir if self.storage_dir is not None else data_dir / "jobs"

    def price_sheet(self, report: HardwareReport, table: TierTable) -> PriceSheet:
        """The prices and units to announce for ``report``'s machine under these settings.

        Units come from :func:`~fizz_app.core.policy.units_offered` (the limits' caps, else
        the hardware minus the owner's reserve).

        Raises:
            PricingError: a GPU is offered that has no price (field
                ``gpu_per_unit_month_usd``): set one, or turn the GPU off in the limits.
        """
        units = units_offered(self.limits, report)
        return self.pricing.sheet(offer_from_report(report), table, units)


# ---- Migrations ---------------------------------------------------------------------------------
# Each entry turns a raw dict of schema N into schema N + 1.


def _from_v0(raw: dict[str, Any]) -> dict[str, Any]:
    # Schema 0: development builds wrote no version and kept region/gateway at the top level.
    migrated = {k: v for k, v in raw.items() if k not in ("region", "gateway_id")}
    node = {k: raw[k] for k in ("region", "gateway_id") if k in raw}
    if node:
        migrated["node"] = {**node, **raw.get("node", {})}
    return migrated


def _from_v1(raw: dict[str, Any]) -> dict[str, Any]:
    # Schema 1 had no pricing or limits: every v1 value stays, the new sections take defaults.
    return dict(raw)


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {0: _from_v0, 1: _from_v1}


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


def _refused_rpc(value: str) -> str:
    """A refused RPC address as an error message may quote it: its scheme and host only. The
    rest may hold an API key that, malformed (a stray space...), no mask would recognise."""
    text = value.strip()
    try:
        parts = urlsplit(text)
        scheme, host = parts.scheme, parts.hostname
    except ValueError:
        scheme, host = "", None
    if not scheme.isalpha() or not host:
        return "an address that does not start with http://, https://, ws:// or wss://"
    shown = f"{scheme}://{host}"
    return repr(shown if text == shown else f"{shown}/…")


# ---- Store --------------------------------------------------------------------------------------


Fingerprint = tuple[int, int, int]
"""``(st_mtime_ns, st_size, st_ino)`` of the settings file (:meth:`SettingsStore.fingerprint`)."""


@dataclass(frozen=True)
class SettingsChange:
    """What :meth:`SettingsStore.load_if_changed` found in a changed file."""

    fingerprint: Fingerprint | None
    """Pass this to the next ``load_if_changed`` call (``None``: the file is gone)."""
    settings: Settings | None
    """The new settings; ``None`` when the file is bad (then ``error`` says why)."""
    error: SettingsError | None = None
    """Why the changed file was refused; keep the current settings and report it."""


class SettingsStore:
    """Loads and saves :class:`Settings` at ``path``.

    **Live changes.** Several processes share the file: ``fizz-node pricing set`` or the GUI
    write it (always atomically: write a temp file, then rename it over), and a running node
    applies what they wrote without restarting. The node polls about once a second::

        change = store.load_if_changed(last)   # cheap: one stat() while nothing changed
        if change is not None:
            last = change.fingerprint
            if change.settings is not None:
                apply(change.settings)         # re-announce prices, re-evaluate limits
            else:
                report(change.error)           # keep running on the previous settings

    Start with ``last = store.fingerprint()`` taken *before* the first ``load()``, so that a
    write in between is not missed.
    """

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

        A change replaces a whole top-level field; use :meth:`update_section` to change some
        fields of ``pricing``, ``limits`` or ``node``.

        ``rpc_url`` given back exactly as :meth:`Settings.public` shows the saved one means
        "unchanged": the saved address, key included, is kept.

        Raises:
            SettingsError: a change is invalid (nothing is written) or the file on disk is bad;
                an ``rpc_url`` that still holds the mask ``***`` is refused.
        """
        saved = self.load()
        if "rpc_url" in changes:
            changes = {**changes, "rpc_url": self._unmasked_rpc(changes["rpc_url"], saved)}
        current = saved.model_dump(mode="json")
        current.update(changes)
        updated = self._validate(current, source="the new value")
        self.save(updated)
        return updated

    def update_section(self, section: str, **changes: Any) -> Settings:
        """Change only the named fields of ``section`` (``pricing``, ``limits``, ``node``).

        Raises:
            SettingsError: a change is invalid, naming it (``limits.idle_minutes``); nothing
                is written.
        """
        current = self.load().model_dump(mode="json")
        merged = {**current[section], **changes}
        return self.update(**{section: merged})

    def fingerprint(self) -> Fingerprint | None:
        """Identify the file's current version with one ``stat()``; ``None`` when it is absent.

        Every save replaces the file (a new inode), so a changed fingerprint means "reload",
        even within the file system's timestamp granularity.
        """
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (status.st_mtime_ns, status.st_size, status.st_ino)

    def load_if_changed(self, previous: Fingerprint | None) -> SettingsChange | None:
        """Reload when the file differs from ``previous``; ``None`` when it does not.

        Never raises for a bad file: the change then carries the error and no settings, and
        the same bad file is not reported again (its fingerprint is in the change).
        """
        current = self.fingerprint()
        if current == previous:
            return None
        try:
            settings = self.load()
        except SettingsError as error:
            return SettingsChange(current, None, error)
        # load() may have migrated and rewritten the file: remember that version, not ours.
        return SettingsChange(self.fingerprint(), settings)

    # ---- Private API

    def _unmasked_rpc(self, value: Any, saved: Settings) -> Any:
        # A front end shows the masked address and may hand it back (a form saved whole):
        # that means "unchanged", and must never replace the real address and its key.
        if not isinstance(value, str):
            return value
        if saved.rpc_url is not None and value.strip() == public_url(saved.rpc_url):
            return saved.rpc_url
        if MASK in value:
            raise SettingsError(
                "Refused rpc_url: the address still holds *** where the saved address's key "
                "was hidden.",
                "Type the whole address again, key included. Nothing was saved.",
                path=str(self.path),
                field="rpc_url",
            )
        return value

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
            problem = replace(problem, message=problem.message.removeprefix("Value error, "))
            field = problem.field
            # This app's own validators write whole sentences that quote the value already.
            found = (
                "" if error.errors()[0]["type"] == OWN_ERROR_TYPE else f" (found {problem.value!r})"
            )
            if field == "rpc_url" and isinstance(problem.value, str):
                found = f" (found {_refused_rpc(problem.value)})"
            if problem.unknown:
                what = f"has an unknown field {field!r}"
                hint = "Check its spelling, or remove it."
            else:
                what = f"has a bad value for {field!r}: {problem.message.rstrip('.')}{found}"
                hint = _FIX_BY_HAND
            if source:
                message = f"Refused {field}: {problem.message.rstrip('.')}{found}."
                if problem.unknown:
                    message = f"Refused {field}: there is no such setting."
                raise SettingsError(
                    message, "Nothing was saved.", path=str(self.path), field=field
                ) from None
            raise SettingsError(
                f"Settings file {self.path} {what}.",
                f"{hint} The file was left untouched.",
                path=str(self.path),
                field=field,
            ) from None

    def _is_valid_file(self) -> bool:
        try:
            self._validate(migrate(self._read_raw())[0])
        except (SettingsError, ValueError):
            return False
        return True
