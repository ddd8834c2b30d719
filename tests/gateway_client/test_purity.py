"""The sans-I/O modules stay pure: stdlib only, no I/O or clock, explicit ``__all__``."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "gateway_client"
PURE = ["__init__", "backoff", "exceptions", "frames", "messages", "protocol"]
# Stdlib modules that do I/O, read the clock, or run an event loop.
FORBIDDEN = {"asyncio", "socket", "ssl", "selectors", "threading", "time", "os", "subprocess"}


@pytest.mark.parametrize("name", PURE)
def test_imports_only_pure_stdlib(name: str) -> None:
    tree = ast.parse((PACKAGE / f"{name}.py").read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)
    assert not imported & FORBIDDEN


@pytest.mark.parametrize("name", PURE)
def test_has_future_annotations_and_all(name: str) -> None:
    tree = ast.parse((PACKAGE / f"{name}.py").read_text())
    futures = [
        node
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module == "__future__"
    ]
    assert futures and futures[0].names[0].name == "annotations"
    assigned = {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    }
    assert "__all__" in assigned


@pytest.mark.parametrize("name", PURE[1:])
def test_all_names_exist(name: str) -> None:
    module = __import__(f"gateway_client.{name}", fromlist=["__all__"])
    assert all(hasattr(module, item) for item in module.__all__)
