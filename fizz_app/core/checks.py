"""Verdicts of the system check: plain, immutable, JSON-ready data (stdlib only)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

__all__ = ["CheckStatus", "CheckResult", "Verdict"]


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

    @property
    def meets_minimum(self) -> bool:
        """True when no check failed (warnings do not block)."""
        return all(check.status is not CheckStatus.FAIL for check in self.checks)

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        return tuple(check for check in self.checks if check.status is CheckStatus.FAIL)

    def check(self, name: str) -> CheckResult:
        """Return the check called ``name``; raises ``KeyError`` when there is none."""
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "checks": [check.to_dict() for check in self.checks],
            "meets_minimum": self.meets_minimum,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        return cls(
            profile=str(data["profile"]),
            checks=tuple(CheckResult.from_dict(item) for item in data["checks"]),
        )
