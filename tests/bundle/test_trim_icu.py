"""installer/linux/trim_icu.py: which ICU data items stay, and that a package it writes reads
back item for item. (That Qt works on the result, in the bundle, is the probe's job:
test_frozen_app.py::test_frozen_probe_exercises_the_dependencies.)"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from .conftest import ROOT


def _load_trim_icu() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "trim_icu", ROOT / "installer" / "linux" / "trim_icu.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["trim_icu"] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


trim_icu = _load_trim_icu()


@pytest.mark.parametrize(
    ("name", "kept"),
    [
        ("icudt73l/root.res", True),
        ("icudt73l/en.res", True),
        ("icudt73l/en_GB.res", True),
        ("icudt73l/coll/en_US_POSIX.res", True),
        ("icudt73l/pool.res", True),
        ("icudt73l/zone/res_index.res", True),
        ("icudt73l/coll/ucadata.icu", True),
        ("icudt73l/zoneinfo64.res", True),
        ("icudt73l/supplementalData.res", True),
        ("icudt73l/zone/tzdbNames.res", True),
        ("icudt73l/brkitr/word.brk", True),
        ("icudt73l/cnvalias.icu", True),
        ("icudt73l/nfkc.nrm", True),
        ("icudt73l/de.res", False),
        ("icudt73l/coll/de__PHONEBOOK.res", False),
        ("icudt73l/coll/de_.res", False),
        ("icudt73l/sr_Latn_BA.res", False),
        ("icudt73l/es_419.res", False),
        ("icudt73l/zone/yue_Hans.res", False),
        ("icudt73l/ibm-943_P15A-2003.cnv", False),
        ("icudt73l/brkitr/cjdict.dict", False),
    ],
)
def test_what_stays(name: str, kept: bool) -> None:
    assert trim_icu.wanted(name) is kept


def test_a_written_package_reads_back() -> None:
    pyside6 = importlib.util.find_spec("PySide6")
    if pyside6 is None or pyside6.origin is None:
        pytest.skip("PySide6 is not installed")
    libraries = sorted((Path(pyside6.origin).parent / "Qt" / "lib").glob("libicudata.so.*"))
    if not libraries:
        pytest.skip("this PySide6 has no ICU data library")
    elf = libraries[0].read_bytes()
    _symbol, offset, size = trim_icu.find_data_symbol(elf)
    header, items = trim_icu.read_package(elf[offset : offset + size])
    kept = [item for item in items if trim_icu.wanted(item.name)]
    _header, reread = trim_icu.read_package(trim_icu.write_package(header, kept))
    assert [item.name for item in reread] == [item.name for item in kept]
    # Each item's data comes back in full (padded to 16 bytes at most).
    for before, after in zip(kept, reread, strict=True):
        assert after.data[: len(before.data)] == before.data
        assert len(after.data) - len(before.data) < trim_icu.ALIGN
