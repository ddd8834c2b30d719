"""The last bandwidth measurement (the gateway's speed test), kept in the data folder so that
``fizz-node check`` and the app's system check show it between connections.

The gateway measures (``GatewayLink.measure_bandwidth``); this module only remembers: save the
result with :func:`save_measurement`, and put it into a fresh hardware report with
:func:`with_measurement`. A measurement older than :data:`STALE_AFTER_S` is still shown, marked
stale, so the check asks for a new one.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from pathlib import Path

from .atomic import write_atomic
from .report import BandwidthInfo, HardwareReport

__all__ = [
    "MEASUREMENT_FILE",
    "STALE_AFTER_S",
    "load_measurement",
    "measurement_path",
    "save_measurement",
    "with_measurement",
]

log = logging.getLogger(__name__)

MEASUREMENT_FILE = "bandwidth.json"
"""The file's name in the data folder."""

STALE_AFTER_S = 7 * 24 * 3600.0
"""A measurement older than a week no longer speaks for this connection (the laptop moved,
the plan changed): it is shown as stale."""

_FORMAT = 1


def measurement_path(data_dir: Path) -> Path:
    """Where the last measurement is kept."""
    return data_dir / MEASUREMENT_FILE


def save_measurement(data_dir: Path, info: BandwidthInfo) -> None:
    """Keep ``info`` (a measured result with its ``measured_at``) as the last measurement.

    Raises:
        ValueError: ``info`` is not a complete measurement (not measured, a figure missing or
            not finite, no time).
        OSError: the data folder cannot be written.
    """
    figures = (info.download_mbps, info.upload_mbps, info.measured_at)
    if not info.measured or any(x is None or not math.isfinite(x) or x < 0 for x in figures):
        raise ValueError("only a complete measurement (figures and time) can be saved")
    document = {
        "format": _FORMAT,
        "download_mbps": info.download_mbps,
        "upload_mbps": info.upload_mbps,
        "bucket": info.bucket,
        "measured_at": info.measured_at,
    }
    write_atomic(measurement_path(data_dir), json.dumps(document, indent=1).encode("utf-8"))


def load_measurement(data_dir: Path, now: float | None = None) -> BandwidthInfo:
    """The last measurement, marked ``stale`` when older than :data:`STALE_AFTER_S`.

    Returns "not measured" when there is none, or when the file is unreadable or damaged (it
    is only a cache of the gateway's answer: the next speed test rewrites it).
    """
    path = measurement_path(data_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ValueError("unknown format")
        down, up, at = (float(data[key]) for key in ("download_mbps", "upload_mbps", "measured_at"))
        if not all(math.isfinite(x) and x >= 0 for x in (down, up, at)):
            raise ValueError("figures out of range")
        bucket = data.get("bucket")
        if bucket is not None and not isinstance(bucket, str):
            raise ValueError("bucket is not text")
    except FileNotFoundError:
        return BandwidthInfo(measured=False)
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.warning("ignoring the saved bandwidth measurement %s: %s", path, error)
        return BandwidthInfo(measured=False)
    age = (time.time() if now is None else now) - at
    return BandwidthInfo(
        measured=True,
        download_mbps=down,
        upload_mbps=up,
        bucket=bucket,
        measured_at=at,
        stale=age > STALE_AFTER_S,
    )


def with_measurement(
    report: HardwareReport, data_dir: Path, now: float | None = None
) -> HardwareReport:
    """``report`` with the last saved measurement as its bandwidth (unchanged if none)."""
    info = load_measurement(data_dir, now)
    if not info.measured:
        return report
    return dataclasses.replace(report, bandwidth=info)
