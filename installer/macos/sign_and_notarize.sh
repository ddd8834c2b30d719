#!/usr/bin/env bash
# Signs dist/Fizz.app (hardened runtime) and, with NOTARIZE=1, notarises and staples it; run
# make_dmg.sh afterwards and then this script again with TARGET=dist/Fizz-<version>.dmg to sign,
# notarise and staple the disk image too. macOS only.
#
# Credentials come from the environment, never from arguments or files in the repository:
#   APPLE_SIGNING_IDENTITY   "Developer ID Application: Name (TEAMID)" (in the login keychain,
#                            or imported first: see installer/README.md, "macOS signing in CI")
#   For notarisation (NOTARIZE=1), either a stored notarytool profile:
#     NOTARY_KEYCHAIN_PROFILE  name given to `xcrun notarytool store-credentials`
#   or an Apple ID with an app-specific password:
#     APPLE_ID, APPLE_TEAM_ID, APPLE_APP_PASSWORD
# Usage: APPLE_SIGNING_IDENTITY=... NOTARIZE=1 installer/macos/sign_and_notarize.sh
#        TARGET=dist/Fizz-0.1.0.dmg NOTARIZE=1 installer/macos/sign_and_notarize.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
[ "$(uname -s)" = Darwin ] || { echo "sign_and_notarize.sh: run this on macOS" >&2; exit 1; }
: "${APPLE_SIGNING_IDENTITY:?set APPLE_SIGNING_IDENTITY to the Developer ID Application identity}"
TARGET="${TARGET:-dist/Fizz.app}"
ENTITLEMENTS="$ROOT/installer/macos/entitlements.plist"
[ -e "$TARGET" ] || { echo "$TARGET is missing: build it first" >&2; exit 1; }

sign() {
  codesign --force --timestamp --options runtime --entitlements "$ENTITLEMENTS" \
    --sign "$APPLE_SIGNING_IDENTITY" "$@"
}

if [ -d "$TARGET" ]; then
  # Inside out: every library and executable first, then the app itself (no --deep).
  while IFS= read -r -d '' file; do
    if file -b "$file" | grep -q 'Mach-O'; then
      sign "$file"
    fi
  done < <(find "$TARGET/Contents" -type f \( -perm -u+x -o -name '*.so' -o -name '*.dylib' \) -print0)
  sign "$TARGET"
  codesign --verify --deep --strict --verbose=2 "$TARGET"
else
  codesign --force --timestamp --sign "$APPLE_SIGNING_IDENTITY" "$TARGET"
  codesign --verify --verbose=2 "$TARGET"
fi

if [ "${NOTARIZE:-0}" != 1 ]; then
  echo "Signed $TARGET (set NOTARIZE=1 to notarise it as well)"
  exit 0
fi

if [ -n "${NOTARY_KEYCHAIN_PROFILE:-}" ]; then
  auth=(--keychain-profile "$NOTARY_KEYCHAIN_PROFILE")
else
  : "${APPLE_ID:?set APPLE_ID (or NOTARY_KEYCHAIN_PROFILE)}"
  : "${APPLE_TEAM_ID:?set APPLE_TEAM_ID}"
  : "${APPLE_APP_PASSWORD:?set APPLE_APP_PASSWORD (an app-specific password)}"
  auth=(--apple-id "$APPLE_ID" --team-id "$APPLE_TEAM_ID" --password "$APPLE_APP_PASSWORD")
fi

submission="$TARGET"
if [ -d "$TARGET" ]; then  # notarytool takes a zip, dmg or pkg
  submission="$ROOT/build/Fizz-notarize.zip"
  mkdir -p "$ROOT/build"
  rm -f "$submission"
  ditto -c -k --keepParent "$TARGET" "$submission"
fi
xcrun notarytool submit "$submission" "${auth[@]}" --wait
xcrun stapler staple "$TARGET"
xcrun stapler validate "$TARGET"
if [ -d "$TARGET" ]; then
  spctl --assess --type execute --verbose=2 "$TARGET"
fi
echo "Signed, notarised and stapled $TARGET"
