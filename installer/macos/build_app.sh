#!/usr/bin/env bash
# Builds dist/Fizz.app on macOS (run on a macOS runner or Mac, not on Linux):
#   1. renders the icon PNGs (installer/render_icons.py) and turns the iconset into fizz.icns
#      with iconutil,
#   2. runs PyInstaller on installer/fizz.spec (always --clean), whose BUNDLE step writes
#      Fizz.app with Info.plist: bundle id network.fizz.node, the version from
#      fizz_app.__version__, LSUIElement from FIZZ_MACOS_LSUIELEMENT (1 = tray only, no Dock
#      icon; default 0, the app shows in the Dock),
#   3. checks the Info.plist and the frozen CLI inside the app.
# Usage: installer/macos/build_app.sh   Env: PYTHON (default .venv/bin/python),
#        FIZZ_MACOS_LSUIELEMENT (0|1)
# Then: installer/macos/sign_and_notarize.sh (optional) and installer/macos/make_dmg.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
[ "$(uname -s)" = Darwin ] || { echo "build_app.sh: run this on macOS" >&2; exit 1; }

VERSION="$("$PYTHON" -c 'import fizz_app; print(fizz_app.__version__)')"
echo "Fizz Node $VERSION"

"$PYTHON" installer/render_icons.py --out build/icons
iconutil -c icns build/icons/fizz.iconset -o build/icons/fizz.icns

rm -rf dist/Fizz dist/Fizz.app build/pyinstaller
"$PYTHON" -m PyInstaller --clean --noconfirm --log-level WARN \
  --distpath dist --workpath build/pyinstaller installer/fizz.spec

APP="dist/Fizz.app"
PLIST="$APP/Contents/Info.plist"
plutil -lint "$PLIST"
[ "$(plutil -extract CFBundleIdentifier raw "$PLIST")" = network.fizz.node ]
[ "$(plutil -extract CFBundleShortVersionString raw "$PLIST")" = "$VERSION" ]
reported="$("$APP/Contents/MacOS/fizz-node" --version)"
[ "$reported" = "fizz-node $VERSION" ] || { echo "frozen CLI says: $reported" >&2; exit 1; }
echo "Built $APP ($(du -sh "$APP" | cut -f1))"
