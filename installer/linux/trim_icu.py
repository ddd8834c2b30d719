"""Replace the bundle's ICU data library with an English-only one (Linux; build_bundle.sh runs it).

PySide6's Qt links ICU 73 (``libicuuc``/``libicui18n``), whose data is one shared library,
``libicudata.so.73``: 31 MB holding a single symbol, ``icudt73_dat``, an ICU "common data"
package of ~3,900 items (locale data for ~900 locales, collation tailorings, charset conversion
tables, word-break dictionaries...). QtCore asks ICU only for collation (QCollator), locale-aware
case mapping, time-zone display names and conversion between legacy charsets (QStringConverter
beyond UTF-8/16/32 and Latin-1). The app is in English and handles text as UTF-8, so it keeps
(the approach of Node.js's "small-icu" build):

- every item that is not locale data: normalisation, properties, the root collation
  (``coll/ucadata.icu``), break rules, time-zone and supplemental data, charset aliases;
- locale data (``*.res`` named by a locale, in every tree) for ``root`` and ``en*`` only: other
  locales fall back to root (QCollator sorts by the root collation; names come in English);

and drops the charset conversion tables (``*.cnv``: Shift-JIS, GBK, EBCDIC, windows-125x...;
QStringDecoder("windows-1252") becomes invalid, UTF-8/16/32 and Latin-1 are unaffected) and the
CJK/Thai/Lao/Khmer/Burmese word-break dictionaries (``*.dict``; Qt breaks text itself).

The new library is assembled from the trimmed package with binutils (``as``, ``ld``: the same
package as ``strip``) under the same soname and symbol, so ICU loads it exactly as the original.

Usage: trim_icu.py LIBRARY   (e.g. dist/Fizz/_internal/PySide6/Qt/lib/libicudata.so.73)
"""

from __future__ import annotations

import argparse
import re
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

KEEP_LANGUAGES = frozenset({"root", "en"})
"""Locales kept: ``root`` (every lookup's last fallback) and English (``en``, ``en_GB``...)."""

LOCALE = re.compile(r"(?:[a-z]{2,3}|root)(?:_[A-Za-z0-9]*)*")
"""A locale bundle's name: ``de``, ``sr_Latn_BA``, ``es_419``, ``de__PHONEBOOK``, ``root``."""

NOT_LOCALES = frozenset({"pool", "res_index"})
"""Bundles in a tree that look like locale names but serve every locale."""

REQUIRED = ("root.res", "pool.res", "res_index.res", "coll/ucadata.icu", "cnvalias.icu")
"""Items without which ICU (or Qt's use of it) cannot work: a trim that loses one is a bug."""

ALIGN = 16


@dataclass(frozen=True)
class Item:
    name: str
    data: bytes


def wanted(name: str) -> bool:
    """Whether the package item ``name`` (``icudt73l/coll/de.res``) stays."""
    path = name.split("/", 1)[1]
    leaf = path.rsplit("/", 1)[-1]
    stem, _, extension = leaf.rpartition(".")
    if extension in ("cnv", "dict"):
        return False
    if extension == "res" and stem not in NOT_LOCALES and LOCALE.fullmatch(stem):
        return stem.split("_", 1)[0] in KEEP_LANGUAGES
    return True


# ---- The ELF library: where icudtNN_dat is --------------------------------------------------


def find_data_symbol(elf: bytes) -> tuple[str, int, int]:
    """The name, file offset and size of the ``icudtNN_dat`` symbol (ELF64 little-endian)."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        raise SystemExit("trim_icu: not a 64-bit little-endian ELF library")
    shoff = struct.unpack_from("<Q", elf, 0x28)[0]
    shentsize, shnum = struct.unpack_from("<HH", elf, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", elf, shoff + i * shentsize) for i in range(shnum)]
    for _name, kind, _flags, _addr, offset, size, link, _info, _align, entsize in sections:
        if kind != 11:  # SHT_DYNSYM
            continue
        strtab_offset = sections[link][4]
        for start in range(offset, offset + size, entsize):
            st_name, _st_info, _st_other, shndx, value, st_size = struct.unpack_from(
                "<IBBHQQ", elf, start
            )
            end = elf.index(b"\0", strtab_offset + st_name)
            symbol = elf[strtab_offset + st_name : end].decode()
            if re.fullmatch(r"icudt\d+_dat", symbol):
                home = sections[shndx]
                return symbol, home[4] + (value - home[3]), st_size
    raise SystemExit("trim_icu: no icudtNN_dat symbol: not an ICU data library")


# ---- ICU common data packages ---------------------------------------------------------------


def read_package(blob: bytes) -> tuple[bytes, list[Item]]:
    """The header and the items of an ICU common data package (format "CmnD")."""
    header_size = struct.unpack_from("<H", blob, 0)[0]
    if blob[2:4] != b"\xda\x27" or blob[12:16] != b"CmnD":
        raise SystemExit("trim_icu: the symbol does not hold an ICU common data package")
    count = struct.unpack_from("<I", blob, header_size)[0]
    entries = [struct.unpack_from("<II", blob, header_size + 4 + 8 * i) for i in range(count)]
    items = []
    for index, (name_offset, data_offset) in enumerate(entries):
        name_start = header_size + name_offset
        name = blob[name_start : blob.index(b"\0", name_start)].decode("ascii")
        start = header_size + data_offset
        end = header_size + entries[index + 1][1] if index + 1 < count else len(blob)
        items.append(Item(name, blob[start:end]))
    return blob[:header_size], items


def _pad(data: bytearray) -> None:
    data.extend(b"\0" * (-len(data) % ALIGN))


def write_package(header: bytes, items: list[Item]) -> bytes:
    """A package of ``items`` (kept in their sorted order: ICU looks them up by bisection)."""
    if len(header) % ALIGN:
        raise SystemExit("trim_icu: unexpected package header size")
    names = bytearray()
    name_offsets = []
    toc_size = 4 + 8 * len(items)
    for item in items:
        name_offsets.append(toc_size + len(names))
        names.extend(item.name.encode("ascii") + b"\0")
    body = bytearray(header)
    toc_start = len(body)
    body.extend(b"\0" * toc_size)
    body.extend(names)
    _pad(body)
    data_offsets = []
    for item in items:
        data_offsets.append(len(body) - toc_start)
        body.extend(item.data)
        _pad(body)
    struct.pack_into("<I", body, toc_start, len(items))
    for index, (name_offset, data_offset) in enumerate(
        zip(name_offsets, data_offsets, strict=True)
    ):
        struct.pack_into("<II", body, toc_start + 4 + 8 * index, name_offset, data_offset)
    return bytes(body)


# ---- Assembling the library -----------------------------------------------------------------


def build_library(symbol: str, soname: str, package: bytes, out: Path, work: Path) -> None:
    """A data-only shared library exporting ``symbol`` = ``package``, like ICU's own."""
    data = work / "icudata.dat"
    data.write_bytes(package)
    source = work / "icudata.s"
    source.write_text(
        "\t.section .rodata\n"
        f"\t.balign {ALIGN}\n"
        f"\t.globl {symbol}\n"
        f"\t.type {symbol}, %object\n"
        f"{symbol}:\n"
        f'\t.incbin "{data}"\n'
        f"\t.size {symbol}, . - {symbol}\n"
        '\t.section .note.GNU-stack,"",%progbits\n'
    )
    obj = work / "icudata.o"
    subprocess.run(["as", "-o", str(obj), str(source)], check=True)
    subprocess.run(
        ["ld", "-shared", "-soname", soname, "-z", "noexecstack", "-o", str(out), str(obj)],
        check=True,
    )


def soname_of(library: Path) -> str:
    dynamic = subprocess.run(
        ["readelf", "-d", str(library)], capture_output=True, text=True, check=True
    ).stdout
    found = re.search(r"\(SONAME\)\s+Library soname: \[([^\]]+)\]", dynamic)
    return found.group(1) if found else library.name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("library", type=Path, help="the bundle's libicudata.so.NN")
    args = parser.parse_args(argv)
    library: Path = args.library

    elf = library.read_bytes()
    symbol, offset, size = find_data_symbol(elf)
    header, items = read_package(elf[offset : offset + size])
    prefix = items[0].name.split("/", 1)[0] + "/"
    kept = [item for item in items if wanted(item.name)]
    missing = [name for name in REQUIRED if prefix + name not in {item.name for item in kept}]
    if missing:
        raise SystemExit(f"trim_icu: the trimmed package would lack {missing}")
    package = write_package(header, kept)

    with tempfile.TemporaryDirectory(prefix="trim_icu-") as tmp:
        work = Path(tmp)
        built = library.with_name(f"{library.name}.trimmed")  # same folder: an atomic rename
        build_library(symbol, soname_of(library), package, built, work)
        # Read it back as ICU would: the same symbol, the same items.
        new_elf = built.read_bytes()
        new_symbol, new_offset, new_size = find_data_symbol(new_elf)
        _, reread = read_package(new_elf[new_offset : new_offset + new_size])
        if new_symbol != symbol or [item.name for item in reread] != [i.name for i in kept]:
            raise SystemExit("trim_icu: the new library does not read back as written")
        built.chmod(library.stat().st_mode)
        built.replace(library)
    print(
        f"trim_icu: {library.name} {len(elf) / 1e6:.1f} MB -> {library.stat().st_size / 1e6:.1f} MB"
        f" ({len(kept)} of {len(items)} items: locales {', '.join(sorted(KEEP_LANGUAGES))})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
