"""The saved bandwidth measurement: written atomically, read back, marked stale after a
week, ignored when damaged; and what the system check says about it."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

from fizz_app.core.bandwidth import (
    STALE_AFTER_S,
    load_measurement,
    measurement_path,
    save_measurement,
    with_measurement,
)
from fizz_app.core.checks import CheckStatus
from fizz_app.core.hardware import probe_hardware
from fizz_app.core.report import BandwidthInfo
from fizz_app.core.requirements import check_bandwidth, load_profile

MEASURED = BandwidthInfo(
    measured=True, download_mbps=180.0, upload_mbps=40.0, bucket="200mbps", measured_at=1e9
)


def test_saved_measurement_reads_back_and_goes_stale(tmp_path: Path) -> None:
    assert load_measurement(tmp_path) == BandwidthInfo(measured=False)
    save_measurement(tmp_path, MEASURED)
    assert measurement_path(tmp_path).stat().st_mode & 0o777 == 0o600
    fresh = load_measurement(tmp_path, now=1e9 + 3600)
    assert fresh == MEASURED
    old = load_measurement(tmp_path, now=1e9 + STALE_AFTER_S + 1)
    assert old.stale and old.download_mbps == 180.0


@pytest.mark.parametrize(
    "info",
    [
        BandwidthInfo(measured=False),
        BandwidthInfo(measured=True, download_mbps=1.0, upload_mbps=None, measured_at=1.0),
        BandwidthInfo(measured=True, download_mbps=math.inf, upload_mbps=1.0, measured_at=1.0),
        BandwidthInfo(measured=True, download_mbps=1.0, upload_mbps=1.0),
    ],
)
def test_only_complete_measurements_are_saved(tmp_path: Path, info: BandwidthInfo) -> None:
    with pytest.raises(ValueError, match="complete measurement"):
        save_measurement(tmp_path, info)
    assert not measurement_path(tmp_path).exists()


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[]",
        json.dumps({"format": 2, "download_mbps": 1, "upload_mbps": 1, "measured_at": 1}),
        json.dumps({"format": 1, "download_mbps": 1, "measured_at": 1}),
        json.dumps({"format": 1, "download_mbps": -1, "upload_mbps": 1, "measured_at": 1}),
        json.dumps(
            {"format": 1, "download_mbps": 1, "upload_mbps": 1, "measured_at": 1, "bucket": 5}
        ),
    ],
)
def test_a_damaged_file_reads_as_not_measured(tmp_path: Path, content: str) -> None:
    measurement_path(tmp_path).write_text(content)
    assert load_measurement(tmp_path) == BandwidthInfo(measured=False)


def test_the_check_shows_the_measurement_and_asks_again_when_stale(tmp_path: Path) -> None:
    report = probe_hardware(tmp_path)
    assert with_measurement(report, tmp_path) is report  # nothing saved: unchanged
    now = time.time()
    save_measurement(tmp_path, BandwidthInfo(**{**MEASURED.__dict__, "measured_at": now}))
    profile = load_profile("spheron-fizz")
    fresh = check_bandwidth(with_measurement(report, tmp_path).bandwidth, profile)
    assert fresh.status is CheckStatus.PASS
    assert fresh.detail.startswith("180 Mbit/s down, 40 Mbit/s up (200mbps), measured ")
    stale = check_bandwidth(
        with_measurement(report, tmp_path, now=now + STALE_AFTER_S + 1).bandwidth, profile
    )
    assert stale.status is CheckStatus.WARN and "over a week old" in stale.detail
