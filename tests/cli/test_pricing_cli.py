"""``fizz-node pricing show | preset | set``, run as the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(sys.executable).with_name("fizz-node")
RESOURCE_KEYS = {
    "unit",
    "offered",
    "present",
    "usd_per_unit_month",
    "uspon_per_unit_hour",
    "per_block_per_unit",
    "usd_month",
}


def fizz(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FIZZ_HOME": str(home)}
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=60)


def sheet(home: Path, *args: str) -> dict[str, Any]:
    result = fizz(home, "pricing", *args, "--json")
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_show_json_has_the_stable_shape(fizz_home: Path) -> None:
    data = sheet(fizz_home, "show")
    assert set(data) == {
        "preset",
        "preset_factor",
        "quote_token",
        "accepted_tokens",
        "resources",
        "monthly_total_usd",
        "total_per_block",
        "operator_share",
        "estimates",
        "notes",
    }
    assert data["preset"] == "market" and data["preset_factor"] == "1"
    assert data["quote_token"] == {"symbol": "uSPON", "decimals": 6, "usd": "1"}
    assert data["accepted_tokens"] == [{"symbol": "uSPON", "fee": "0"}]
    assert set(data["resources"]) == {"cpu", "memory", "storage", "gpu"}
    for name, row in data["resources"].items():
        assert RESOURCE_KEYS <= set(row), name
        assert 0 <= row["offered"] <= row["present"]
    cpu = data["resources"]["cpu"]
    assert cpu["usd_per_unit_month"] == "0.75"
    # 0.75 USD/month = 0.75/720 uSPON an hour = that x 10^6 / 1800 base units a block.
    assert Decimal(cpu["per_block_per_unit"]) == Decimal("0.578704")
    assert cpu["offered"] == min(os.cpu_count() or 1, 32) - 1  # one thread kept for the owner
    assert [e["utilisation"] for e in data["estimates"]] == ["0.25", "0.5", "1"]
    full = data["estimates"][-1]
    assert Decimal(full["gross_usd"]) == Decimal(data["monthly_total_usd"])
    # The operator keeps 90 %; uSPON carries no fee (amounts are rounded to cents).
    net = Decimal(full["gross_usd"]) * Decimal("0.9")
    assert abs(Decimal(full["net_usd"]) - net) <= Decimal("0.01")
    assert not (fizz_home / "settings.json").exists()  # show writes nothing


def test_show_text_is_readable(fizz_home: Path) -> None:
    result = fizz(fizz_home, "pricing", "show")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Pricing: market" in out
    assert "Accepted: uSPON (no fee)" in out
    for words in ("CPU", "RAM", "Storage", "USD/unit/month", "100% rented", "25% rented"):
        assert words in out
    assert "A running node applies" not in out  # show changes nothing


def test_preset_changes_every_rate_and_is_saved(fizz_home: Path) -> None:
    market = sheet(fizz_home, "show")["resources"]
    data = sheet(fizz_home, "preset", "competitive")
    assert data["preset"] == "competitive" and data["preset_factor"] == "0.85"
    for name in ("cpu", "memory", "storage"):
        expected = Decimal(market[name]["usd_per_unit_month"]) * Decimal("0.85")
        assert Decimal(data["resources"][name]["usd_per_unit_month"]) == expected
    saved = json.loads((fizz_home / "settings.json").read_text())
    assert saved["pricing"]["preset"] == "competitive"
    result = fizz(fizz_home, "pricing", "preset", "premium")
    assert result.returncode == 0
    assert "premium" in result.stdout
    assert "A running node applies this within a few seconds." in result.stdout


def test_set_changes_only_the_given_prices(fizz_home: Path) -> None:
    sheet(fizz_home, "preset", "premium")
    data = sheet(fizz_home, "set", "--cpu", "0.9", "--storage", "0.012")
    assert data["preset"] == "custom" and data["preset_factor"] is None
    rows = data["resources"]
    assert rows["cpu"]["usd_per_unit_month"] == "0.9"
    assert rows["storage"]["usd_per_unit_month"] == "0.012"
    assert rows["memory"]["usd_per_unit_month"] == "0.125"  # premium's, kept
    data = sheet(fizz_home, "set", "--memory", "0.12")
    assert data["resources"]["cpu"]["usd_per_unit_month"] == "0.9"
    assert data["resources"]["memory"]["usd_per_unit_month"] == "0.12"
    saved = json.loads((fizz_home / "settings.json").read_text())["pricing"]
    assert saved["cpu_per_thread_month_usd"] == "0.9"
    assert saved["memory_per_gb_month_usd"] == "0.12"
    # Back to a preset: the custom prices are gone.
    assert sheet(fizz_home, "preset", "market")["resources"]["cpu"]["usd_per_unit_month"] == "0.75"


def test_set_tokens_and_uspon_rate(fizz_home: Path) -> None:
    data = sheet(fizz_home, "set", "--token", "usdc,usdt", "--spon-usd", "2")
    assert data["preset"] == "market"  # tokens alone are not a custom price
    assert data["accepted_tokens"] == [
        {"symbol": "uSPON", "fee": "0"},
        {"symbol": "USDC", "fee": "0.02"},
        {"symbol": "USDT", "fee": "0.02"},
    ]
    assert data["quote_token"]["usd"] == "2"
    # Worth twice as much: half the uSPON per hour for the same USD price.
    cpu = data["resources"]["cpu"]
    assert Decimal(cpu["uspon_per_unit_hour"]) == Decimal("0.000521")
    data = sheet(fizz_home, "set", "--token", "none")
    assert data["accepted_tokens"] == [{"symbol": "uSPON", "fee": "0"}]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--cpu", "-1"), ["--cpu", "pricing.cpu_per_thread_month_usd", "cannot be negative"]),
        (("--memory", "lots"), ["--memory", "pricing.memory_per_gb_month_usd", "must be a number"]),
        (("--gpu", "5000000"), ["--gpu", "pricing.gpu_per_unit_month_usd", "not plausible"]),
        (("--storage", "nan"), ["--storage", "must be a number"]),
        (("--token", "WETH"), ["--token", "'WETH' is not a payment token", "USDC"]),
        (("--spon-usd", "0"), ["--uspon-usd", "pricing.uspon_usd"]),
        ((), ["Nothing to change"]),
    ],
)
def test_bad_values_exit_2_naming_the_field_and_save_nothing(
    fizz_home: Path, args: tuple[str, ...], words: list[str]
) -> None:
    sheet(fizz_home, "preset", "premium")
    settings = fizz_home / "settings.json"
    before = settings.read_bytes()
    result = fizz(fizz_home, "pricing", "set", *args)
    assert result.returncode == 2
    assert result.stdout == ""
    for word in words:
        assert word in result.stderr
    assert "Traceback" not in result.stderr
    assert settings.read_bytes() == before


def test_unknown_preset_is_a_usage_error(fizz_home: Path) -> None:
    result = fizz(fizz_home, "pricing", "preset", "cheap")
    assert result.returncode == 2
    assert "market" in result.stderr and "competitive" in result.stderr
    assert not (fizz_home / "settings.json").exists()


def test_bad_settings_file_is_reported_not_overwritten(fizz_home: Path) -> None:
    fizz_home.mkdir(parents=True)
    settings = fizz_home / "settings.json"
    text = '{"schema_version": 2, "pricing": {"cpu_per_thread_month_usd": "-3"}}'
    settings.write_text(text)
    result = fizz(fizz_home, "pricing", "set", "--memory", "0.2")
    assert result.returncode == 2
    assert "pricing.cpu_per_thread_month_usd" in result.stderr
    assert settings.read_text() == text


def test_a_version_1_file_is_migrated_by_the_first_pricing_command(fizz_home: Path) -> None:
    fizz_home.mkdir(parents=True)
    v1 = {"schema_version": 1, "network": "base-sepolia", "node": {"region": "india"}}
    (fizz_home / "settings.json").write_text(json.dumps(v1))
    sheet(fizz_home, "set", "--cpu", "1")
    saved = json.loads((fizz_home / "settings.json").read_text())
    assert saved["schema_version"] == 2
    assert saved["network"] == "base-sepolia" and saved["node"]["region"] == "india"
    assert saved["pricing"]["cpu_per_thread_month_usd"] == "1"
    assert json.loads((fizz_home / "settings.v1.json").read_text()) == v1


def test_a_gpu_without_a_market_price_is_left_out_with_a_note(tmp_path: Path) -> None:
    from dataclasses import replace

    from fizz_app.cli.pricing_commands import render_sheet, sheet_data
    from fizz_app.core.config import PricingSettings, Settings
    from fizz_app.core.hardware import probe_hardware
    from fizz_app.core.pricing import load_tier_table
    from fizz_app.core.report import GpuInfo, GpuProbe

    unknown = GpuInfo(
        index=0,
        name="NVIDIA Imaginary X1",
        uuid="GPU-00000000-0000-4000-8000-000000000001",
        pci_device_id="ffff",
        pci_vendor_id="10de",
        vram_total_bytes=8 * 1024**3,
        vram_free_bytes=8 * 1024**3,
        temperature_c=40,
    )
    gpu = GpuProbe(status="ok", detail="1 NVIDIA GPU", driver_version="565", gpus=(unknown,))
    report = replace(probe_hardware(tmp_path), gpu=gpu)
    table = load_tier_table()
    data = sheet_data(Settings(), report, table)
    assert data["resources"]["gpu"]["offered"] == 0 and data["resources"]["gpu"]["present"] == 1
    assert "no market price" in data["notes"][0] and "pricing set --gpu" in data["notes"][0]
    assert "Note: The GPU" in render_sheet(data)
    # With a price of the owner's, it is offered.
    priced = Settings(pricing=PricingSettings(preset="custom", gpu_per_unit_month_usd=Decimal(90)))
    data = sheet_data(priced, report, table)
    assert data["resources"]["gpu"]["offered"] == 1 and data["notes"] == []
    assert data["resources"]["gpu"]["usd_per_unit_month"] == "90"
