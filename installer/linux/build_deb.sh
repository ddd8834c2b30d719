#!/usr/bin/env bash
# Packages the bundle (dist/Fizz, from installer/build_bundle.sh) for Linux:
#   dist/fizz-node_<version>_<arch>.deb           installs under /opt/fizz-node, with a menu entry,
#                                                 hicolor icons, and fizz-node / fizz-app on PATH
#   dist/fizz-node-<version>-linux-<arch>.tar.gz  the same folder, portable (unpack and run ./Fizz)
# The version comes from fizz_app.__version__ (the one place it is set).
# Usage: installer/linux/build_deb.sh     Env: PYTHON (default .venv/bin/python)
# Needs: dpkg-deb (Debian/Ubuntu: dpkg), and PySide6 in PYTHON to render the icons.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
BUNDLE="$ROOT/dist/Fizz"
PACKAGE=fizz-node
PREFIX=/opt/fizz-node

say() { printf '[build_deb] %s\n' "$*"; }

if [ ! -x "$BUNDLE/Fizz" ] || [ ! -x "$BUNDLE/fizz-node" ]; then
  say "No bundle in $BUNDLE: run installer/build_bundle.sh (or make bundle) first."
  exit 1
fi
command -v dpkg-deb >/dev/null 2>&1 || { say "dpkg-deb is missing (apt-get install dpkg)."; exit 1; }

VERSION="$("$PYTHON" -c 'import fizz_app; print(fizz_app.__version__)')"
ARCH="$(dpkg --print-architecture)"
# The bundle links against this machine's C library: require at least its version.
GLIBC="$(dpkg-query -W -f='${Version}' libc6 2>/dev/null | sed -E 's/^([0-9]+\.[0-9]+).*/\1/')"
GLIBC="${GLIBC:-$(ldd --version | head -n1 | grep -oE '[0-9]+\.[0-9]+$')}"

# What Qt's xcb/wayland platforms and the app load from the system: the spec leaves these out
# of the bundle (OpenGL/EGL, X11 and xcb, xkbcommon, fontconfig/freetype, GLib, D-Bus, Kerberos
# for QtNetwork). See toolchain.md ("Qt without a screen") and installer/fizz.spec SYSTEM_LIBS.
DEPENDS=(
  "libc6 (>= $GLIBC)"
  libegl1 libgl1 libfontconfig1 libfreetype6 libxkbcommon0 libxkbcommon-x11-0 libglib2.0-0
  libdbus-1-3 libx11-6 libx11-xcb1 libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1
  libxcb-image0 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1
  libxcb-shm0 libxcb-sync1 libxcb-xinput0 libxcb-render0 libwayland-client0 libwayland-cursor0
  libwayland-egl1 libexpat1 libpng16-16 libgssapi-krb5-2
)
RECOMMENDS=("fonts-dejavu-core | fonts-liberation2" "gnome-keyring | kwalletmanager")

STAGE="$ROOT/build/deb/${PACKAGE}_${VERSION}_${ARCH}"
rm -rf "$STAGE"
mkdir -p "$STAGE/DEBIAN" "$STAGE$PREFIX" "$STAGE/usr/bin" "$STAGE/usr/share/applications" \
  "$STAGE/usr/share/doc/$PACKAGE"

say "Staging $PACKAGE $VERSION ($ARCH)"
# cp -a keeps fizz-node a hard link to Fizz (one executable, picking the command line or the app
# by the name it is started as: installer/entry_linux.py); dpkg-deb and tar store it once.
cp -a "$BUNDLE/." "$STAGE$PREFIX/"
ln -s "$PREFIX/fizz-node" "$STAGE/usr/bin/fizz-node"
ln -s "$PREFIX/Fizz" "$STAGE/usr/bin/fizz-app"

# Icons: PNGs at the hicolor theme's sizes, rendered from the SVG with Qt offscreen.
ICONS="$ROOT/build/icons"
"$PYTHON" "$ROOT/installer/render_icons.py" --out "$ICONS" >/dev/null
mkdir -p "$STAGE/usr/share/icons"
cp -a "$ICONS/hicolor" "$STAGE/usr/share/icons/"

# The menu entry. Icon is the theme name the icons above are installed under (and the one
# fizz_app.core.autostart writes into the start-at-login entry).
cat >"$STAGE/usr/share/applications/fizz-node.desktop" <<EOF
[Desktop Entry]
Type=Application
Version=1.5
Name=Fizz Node
GenericName=Compute sharing node
Comment=Lend this computer's idle time to the Fizz network and earn SPON
Exec=$PREFIX/Fizz
TryExec=$PREFIX/Fizz
Icon=fizz-node
Terminal=false
Categories=Network;System;
Keywords=fizz;spheron;compute;node;
StartupNotify=true
StartupWMClass=fizz-node
EOF

cat >"$STAGE/usr/share/doc/$PACKAGE/copyright" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: fizz-node-desktop
Source: https://github.com/fizz-node/fizz-node-desktop

Files: *
License: MIT
 The bundled third-party libraries keep their own licences; see the upstream projects.
EOF

# Refresh the menu and icon caches where the tools exist (they are optional on minimal systems).
for script in postinst postrm; do
  cat >"$STAGE/DEBIAN/$script" <<'EOF'
#!/bin/sh
set -e
if command -v update-desktop-database >/dev/null 2>&1; then
  update-desktop-database -q /usr/share/applications || true
fi
if command -v gtk-update-icon-cache >/dev/null 2>&1; then
  gtk-update-icon-cache -q -t -f /usr/share/icons/hicolor || true
fi
exit 0
EOF
  chmod 0755 "$STAGE/DEBIAN/$script"
done

INSTALLED_KB="$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)"
join_by() { local sep="$1"; shift; local out="$1"; shift; for item in "$@"; do out+="$sep$item"; done; printf '%s' "$out"; }
cat >"$STAGE/DEBIAN/control" <<EOF
Package: $PACKAGE
Version: $VERSION
Architecture: $ARCH
Maintainer: Fizz Node Desktop developers <fizz-node@users.noreply.github.com>
Section: net
Priority: optional
Installed-Size: $INSTALLED_KB
Depends: $(join_by ", " "${DEPENDS[@]}")
Recommends: $(join_by ", " "${RECOMMENDS[@]}")
Homepage: https://github.com/fizz-node/fizz-node-desktop
Description: Lend this computer's idle compute to a Fizz-style network
 Fizz Node Desktop shares a laptop's or desktop's idle CPU, RAM, storage and
 GPU with a decentralised compute network and earns SPON. It includes the
 desktop app (Fizz, in the applications menu) and the fizz-node command.
EOF

# Package files are root's, whatever user builds them. gzip, not xz: several times faster to
# build (CI time) for a few MB more, and every dpkg reads it.
find "$STAGE" -type d -exec chmod 0755 {} +
DEB="$ROOT/dist/${PACKAGE}_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group -Zgzip -z9 --build "$STAGE" "$DEB" >/dev/null
say "$(du -h "$DEB" | cut -f1)  $DEB"

TARBALL="$ROOT/dist/${PACKAGE}-${VERSION}-linux-${ARCH}.tar.gz"
tar -C "$ROOT/dist" --owner=0 --group=0 --numeric-owner -czf "$TARBALL" Fizz
say "$(du -h "$TARBALL" | cut -f1)  $TARBALL"
