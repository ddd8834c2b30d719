"""Fizz Node Desktop: lend idle compute to a Fizz-style network and earn SPON."""

from __future__ import annotations

__version__ = "0.1.0"
