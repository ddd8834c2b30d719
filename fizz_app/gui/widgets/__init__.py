"""Small reusable widgets shared by the pages and windows."""

from __future__ import annotations
