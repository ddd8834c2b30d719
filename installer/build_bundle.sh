#!/usr/bin/env bash
# Builds the one-folder bundle dist/Fizz/ (executables Fizz and fizz-node) from installer/fizz.spec.
# On Linux fizz-node is a hard link to Fizz (see the spec), and build/pyinstaller/probe/ holds the
# test probe (tests/bundle), which is never shipped.
# Always --clean: a stale PyInstaller cache silently rebuilds an old, broken bundle.
# Usage: installer/build_bundle.sh   (after scripts/bootstrap.sh --bundle; `make bundle` does both)
# Env: PYTHON (default .venv/bin/python, or .venv/Scripts/python.exe on Windows).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=.venv/Scripts/python.exe; fi
fi

start=$SECONDS
rm -rf dist/Fizz build/pyinstaller
# The executables' icons (Windows .ico, macOS .icns source) and the Linux theme icons.
"$PYTHON" installer/render_icons.py --out build/icons
"$PYTHON" -m PyInstaller --clean --noconfirm --log-level WARN \
  --distpath dist --workpath build/pyinstaller installer/fizz.spec
# Linux: Qt's ICU data library (31 MB) for English and the root locale only (5 MB); see
# installer/linux/trim_icu.py for what stays and why. Needs binutils (as, ld).
if [ "$(uname -s)" = Linux ]; then
  for tool in as ld readelf; do
    command -v "$tool" >/dev/null 2>&1 || {
      echo "build_bundle: $tool is missing: install binutils (scripts/bootstrap.sh --bundle does)" >&2
      exit 1
    }
  done
  for icudata in dist/Fizz/_internal/PySide6/Qt/lib/libicudata.so.*; do
    if [ -f "$icudata" ] && [ ! -L "$icudata" ]; then
      "$PYTHON" installer/linux/trim_icu.py "$icudata"
    fi
  done
fi
# Linux: strip symbol tables (libpython alone goes from 23 to 6 MB) from the ELF libraries, except
# those auditwheel/patchelf rewrote (an $ORIGIN run path, or a wheel's vendored *.libs folder:
# numpy's OpenBLAS stops loading when stripped). The Qt libraries come stripped already, except
# ICU's code libraries (1.4 MB of symbols), which Qt links with an $ORIGIN run path of its own
# (not a patched one): those are stripped too, and tests/bundle's probe checks Qt's use of ICU.
if [ "$(uname -s)" = Linux ] && command -v strip >/dev/null 2>&1 && command -v readelf >/dev/null 2>&1; then
  while IFS= read -r -d '' lib; do
    case "$lib" in */*.libs/*) continue ;; esac
    head -c 4 "$lib" | grep -q 'ELF' || continue
    case "$lib" in
      */PySide6/Qt/lib/libicu*) ;;
      *)
        # shellcheck disable=SC2016  # a literal $ORIGIN
        readelf -d "$lib" 2>/dev/null | grep -E '\((RPATH|RUNPATH)\)' | grep -qF '$ORIGIN' && continue
        ;;
    esac
    strip --strip-unneeded "$lib"
  done < <(find dist/Fizz/_internal -type f -name '*.so*' -print0)
fi
if [ -d dist/Fizz ]; then
  size="$(du -sk dist/Fizz | cut -f1)"
  echo "bundle: dist/Fizz ($((size / 1024)) MiB, $((size * 1024 / 1000000)) MB) built in $((SECONDS - start)) s"
fi
