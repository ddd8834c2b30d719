"""The ``fizz-node`` subcommands. Each takes the parsed arguments and returns an exit code."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import textwrap
from typing import TextIO

from ..core import paths
from ..core.bandwidth import with_measurement
from ..core.checks import CheckStatus, Verdict, check_label
from ..core.config import SettingsStore
from ..core.hardware import probe_hardware
from ..core.report import HardwareReport
from ..core.requirements import evaluate, load_profile
from .output import emit_json

__all__ = ["check", "render_check_table"]

GIB = 1024**3
GB = 1000**3


def check(args: argparse.Namespace) -> int:
    """``fizz-node check``: exit 0 when the profile's minimums are met, 1 when not."""
    settings = SettingsStore(paths.settings_path()).load()
    profile = load_profile(args.profile or settings.effective_profile())
    report = probe_hardware(settings.effective_storage_dir(paths.data_dir()))
    report = with_measurement(report, paths.data_dir())  # the gateway's last speed test
    verdict = evaluate(report, profile)
    if args.json:
        emit_json({"profile": profile.name, **report.to_dict(), **verdict.to_dict()})
    else:
        render_check_table(report, verdict, sys.stdout)
    return 0 if verdict.meets_minimum else 1


# ---- Rendering ----------------------------------------------------------------------------------

_STATUS_COLOURS = {CheckStatus.PASS: "32", CheckStatus.WARN: "33", CheckStatus.FAIL: "31"}


def _use_colour(out: TextIO) -> bool:
    return out.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def _facts(report: HardwareReport) -> list[tuple[str, str]]:
    cpu, mem, disk, gpu = report.cpu, report.memory, report.storage, report.gpu
    clock = f", {cpu.frequency_mhz / 1000:.2f} GHz" if cpu.frequency_mhz else ""
    gpus = (
        "; ".join(
            f"{g.name} ({g.vram_total_bytes / GIB:.0f} GiB, {g.vram_free_percent:.0f}% free"
            + (f", {g.temperature_c} °C)" if g.temperature_c is not None else ")")
            for g in gpu.gpus
        )
        + f"; driver {gpu.driver_version}, CUDA {gpu.cuda_version or 'unknown'}"
        if gpu.gpus
        else gpu.detail
    )
    engine = report.container_engine
    engine_text = (
        f"{engine.name} {engine.version or ''} at {engine.endpoint}"
        if engine.status == "ok"
        else engine.detail
    )
    wsl = " (WSL)" if report.os.wsl else ""
    return [
        ("CPU", f"{cpu.model}: {cpu.threads} threads, {cpu.arch}{clock}"),
        ("Memory", f"{mem.total_bytes / GIB:.1f} GiB, {mem.available_bytes / GIB:.1f} GiB free"),
        (
            "Storage",
            f"{disk.free_bytes / GB:.1f} GB free of {disk.total_bytes / GB:.1f} GB "
            f"on {disk.mountpoint}",
        ),
        ("GPU", gpus),
        ("OS", f"{report.os.name}{wsl}, kernel {report.os.kernel}"),
        ("Containers", engine_text),
    ]


def render_check_table(report: HardwareReport, verdict: Verdict, out: TextIO) -> None:
    """Write the human-readable check result to ``out``."""
    colour = _use_colour(out)

    def paint(text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if colour else text

    title = verdict.profile_title or verdict.profile
    out.write(f"System check against the {title} minimums (profile {verdict.profile})\n\n")
    for label, value in _facts(report):
        out.write(f"  {label:<11} {value}\n")
    out.write("\n")
    width = max(len(check_label(check.name)) for check in verdict.checks) + 2
    indent = " " * (2 + 4 + 2 + width)
    # Wrap to the terminal (100 columns when not a terminal), never narrower than 40 for text.
    text_width = max(40, shutil.get_terminal_size((100, 24)).columns - len(indent) - 1)
    for check in verdict.checks:
        tag = paint(f"{check.status.value.upper():<4}", _STATUS_COLOURS[check.status])
        name = check_label(check.name)
        detail = textwrap.wrap(check.detail, text_width) or [""]
        out.write(f"  {tag}  {name:<{width}}{detail[0]}\n")
        for line in detail[1:]:
            out.write(f"{indent}{line}\n")
        if check.remedy:
            remedy = textwrap.wrap(check.remedy, text_width - 3)
            out.write(f"{indent}-> {remedy[0]}\n")
            for line in remedy[1:]:
                out.write(f"{indent}   {line}\n")
    out.write("\n")
    headline_colour = "1;32" if verdict.meets_minimum else "1;31"
    out.write(paint(f"{verdict.headline()}.", headline_colour) + "\n")
