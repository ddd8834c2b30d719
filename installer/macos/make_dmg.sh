#!/usr/bin/env bash
# Packs dist/Fizz.app into dist/Fizz-<version>.dmg (compressed, with an Applications link to
# drag the app onto). macOS only; run build_app.sh (and sign_and_notarize.sh) first.
# Usage: installer/macos/make_dmg.sh   Env: PYTHON (default .venv/bin/python)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
[ "$(uname -s)" = Darwin ] || { echo "make_dmg.sh: run this on macOS" >&2; exit 1; }
[ -d dist/Fizz.app ] || { echo "dist/Fizz.app is missing: run installer/macos/build_app.sh" >&2; exit 1; }

VERSION="$("$PYTHON" -c 'import fizz_app; print(fizz_app.__version__)')"
STAGE="$ROOT/build/dmg"
DMG="$ROOT/dist/Fizz-$VERSION.dmg"
rm -rf "$STAGE" "$DMG"
mkdir -p "$STAGE"
ditto dist/Fizz.app "$STAGE/Fizz.app"
ln -s /Applications "$STAGE/Applications"
hdiutil create -volname "Fizz Node $VERSION" -srcfolder "$STAGE" -fs HFS+ \
  -format UDZO -imagekey zlib-level=9 -ov "$DMG"
hdiutil verify "$DMG"
echo "Built $DMG ($(du -h "$DMG" | cut -f1))"
