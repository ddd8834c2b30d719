"""Turning pydantic's validation errors into one plain sentence about the first bad field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

__all__ = ["FieldProblem", "first_problem"]


@dataclass(frozen=True)
class FieldProblem:
    field: str
    """Dotted name of the field (``node.gateway_id``), ``(top level)`` for the whole object."""
    message: str
    """pydantic's description: ``Input should be greater than or equal to 1``."""
    unknown: bool
    """True when the field is not part of the model at all (a typo, usually)."""
    value: Any


def first_problem(error: ValidationError) -> FieldProblem:
    """Return the first problem of ``error``: the one a user should fix first."""
    problem = error.errors()[0]
    field = ".".join(str(part) for part in problem["loc"]) or "(top level)"
    return FieldProblem(
        field=field,
        message=str(problem["msg"]),
        unknown=problem["type"] == "extra_forbidden",
        value=problem.get("input"),
    )
