"""Verdicts of the system check: plain, immutable, JSON-ready data (stdlib only)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

__all__ = ["CHECK_LABELS", "CheckStatus", "CheckResult", "Verdict", "check_label"]

CHECK_LABELS = {
    "cpu": "CPU",
    "memory": "Memory",
    "storage": "Storage",
    "gpu": "GPU",
    "os": "Operating system",
    "container_engine": "Container engine",
    "bandwidth": "Bandwidth",
}
"""Words for the check keys, shared by every front end."""


def check_label(name: str) -> str:
    """Return the check key ``name`` in words: ``container_engine`` -> ``Container engine``."""
    return CHECK_LABELS.get(name, name.replace("_", " ").capitalize())


class CheckStatus(enum.StrEnum):
    """How one requirement is met. Only ``FAIL`` keeps the machine from joining."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class CheckResult:
    name: str
    """Stable key: ``cpu``, ``memory``, ``storage``, ``gpu``, ``os``, ``container_engine``,
    ``bandwidth``."""
    status: CheckStatus
    detail: str
    """One line saying what was found, in plain words."""
    remedy: str = ""
    """What to do about a warning or failure; empty when passing."""

    def to_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "status": self.status.value,
            "detail": self.detail,
            "remedy": self.remedy,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        return cls(
            name=str(data["name"]),
            status=CheckStatus(data["status"]),
            detail=str(data["detail"]),
            remedy=str(data.get("remedy", "")),
        )


@dataclass(frozen=True)
class Verdict:
    """All checks of one profile against one hardware report."""

    profile: str
    checks: tuple[CheckResult, ...]
    profile_title: str = ""
    """The profile's human title (``Spheron Fizz node``); the name when empty."""

    @property
    def meets_minimum(self) -> bool:
        """True when no check failed (warnings do not block)."""
        return all(check.status is not CheckStatus.FAIL for check in self.checks)

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        return tuple(check for check in self.checks if check.status is CheckStatus.FAIL)

    def headline(self) -> str:
        """One sentence for the verdict, naming the failed checks when there are any:
        ``This machine does not meet the Spheron Fizz node minimums (CPU, storage)``."""
        title = self.profile_title or self.profile
        if self.meets_minimum:
            return f"This machine meets the {title} minimums"
        labels = [check_label(check.name) for check in self.failed]
        names = ", ".join(label if label.isupper() else label.lower() for label in labels)
        return f"This machine does not meet the {title} minimums ({names})"

    def check(self, name: str) -> CheckResult:
        """Return the check called ``name``; raises ``KeyError`` when there is none."""
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "profile_title": self.profile_title,
            "checks": [check.to_dict() for check in self.checks],
            "meets_minimum": self.meets_minimum,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        return cls(
            profile=str(data["profile"]),
            checks=tuple(CheckResult.from_dict(item) for item in data["checks"]),
            profile_title=str(data.get("profile_title", "")),
        )
