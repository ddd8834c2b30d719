"""Tests (a package, so test modules and helpers import by their full names)."""
