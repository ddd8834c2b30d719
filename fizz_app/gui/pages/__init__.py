"""The main window's pages; each one renders snapshots and emits ``sig_*`` requests."""

from __future__ import annotations
