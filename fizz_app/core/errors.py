"""One exception tree for the whole core.

Front ends show ``str(error)`` of a :class:`UserFacingError` to the user as it is, and its
``remedy`` beside it; any other exception is a bug and is reported as such. Error text never
contains secrets.
"""

from __future__ import annotations

__all__ = ["FizzError", "UserFacingError", "SettingsError", "ProfileError"]


class FizzError(Exception):
    """Base of every error the core raises on purpose."""


class UserFacingError(FizzError):
    """A problem the user can act on.

    Args:
        message: what went wrong, in plain words (one sentence).
        remedy: what the user should do next; empty when there is nothing to do.
    """

    def __init__(self, message: str, remedy: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy

    def __str__(self) -> str:
        return f"{self.message} {self.remedy}".strip()


class SettingsError(UserFacingError):
    """The settings file cannot be read or is invalid. The file on disk is left untouched.

    Attributes:
        path: the settings file.
        field: dotted name of the offending field, or ``None`` when the file as a whole is bad.
    """

    def __init__(self, message: str, remedy: str, *, path: str, field: str | None = None) -> None:
        super().__init__(message, remedy)
        self.path = path
        self.field = field


class ProfileError(UserFacingError):
    """A requirement profile is unknown or its data file is malformed."""
