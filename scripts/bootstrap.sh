#!/usr/bin/env bash
# Installs everything `make run` and `make test` need, and nothing twice.
#
# Steps, each skipped when its stamp says nothing changed:
#   1. system packages (apt-get when root on Debian/Ubuntu; elsewhere the exact list is printed),
#   2. the Python virtual environment in .venv with the pinned dependencies,
#   3. the npm developer tools (anvil, solc) in tools/npm/node_modules,
#   4. with --bundle only: the `bundle` extra (PyInstaller) for `make bundle` / `make test-bundle`.
# Usage: scripts/bootstrap.sh [--quiet] [--bundle]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
STAMPS="$VENV/.stamps"
NPM_DIR="$ROOT/tools/npm"

say() { printf '[bootstrap] %s\n' "$*"; }

# ---- 1. System packages ------------------------------------------------------------------------
# Why each is here:
#   python3 python3-venv python3-dev gcc: only when no Python >= 3.11 with venv exists
#   nodejs npm: only when no npm exists (NodeSource's nodejs bundles npm and conflicts with Debian's)
#   libegl1 ... fonts-dejavu-core: Qt's offscreen platform for the GUI tests (toolchain.md)
#   xvfb xauth libx11-xcb1 ... libxcb-xkb1: real Qt windows on a virtual screen (make run without a display)
#   trayer: a system tray on that virtual screen, so `make screenshots` shows the tray icon and menu
#   libxss1 libxtst6: the X11 idle-time probe (core/idle.py, MIT-SCREEN-SAVER) and its test's fake input
#   dbus dbus-x11 gnome-keyring: a real Secret Service keyring for the wallet tests
#   openssh-server openssh-client: the ssh -R reverse tunnel the tunnel benchmark compares against
#   podman runc busybox-static: a real Docker Engine API (served by Podman; runc because crun
#     fails on hybrid cgroups here) and a static busybox to build test images without a registry
#   binutils (with --bundle only): strip, and as/ld for the bundle's English-only ICU data
#     library (installer/linux/trim_icu.py)
SYSTEM_PACKAGES=(
  ca-certificates git make
  libegl1 libgl1 libfontconfig1 libxkbcommon0 libglib2.0-0 libdbus-1-3 fonts-dejavu-core
  xvfb xauth libx11-xcb1 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1
  libxcb-image0 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1
  trayer
  libxss1 libxtst6
  dbus dbus-x11 gnome-keyring
  podman runc busybox-static
  openssh-server openssh-client
)

pick_python() {
  local candidate
  for candidate in "${PYTHON:-}" python3.11 python3.12 python3.13 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

missing_debian_packages() {
  local pkg wanted=("${SYSTEM_PACKAGES[@]}")
  pick_python >/dev/null || wanted+=(python3 python3-venv python3-dev gcc)
  command -v npm >/dev/null 2>&1 || wanted+=(nodejs npm)
  for pkg in "${wanted[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      printf '%s\n' "$pkg"
    fi
  done
}

install_system_packages() {
  if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    say "Not a Debian/Ubuntu system: make sure these (or your distribution's equivalents) are installed:"
    say "  ${SYSTEM_PACKAGES[*]}"
    return 0
  fi
  local missing
  missing="$(missing_debian_packages | tr '\n' ' ')"
  [ -z "${missing// /}" ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    say "Missing system packages: $missing"
    say "Install them with:  sudo apt-get install -y --no-install-recommends $missing"
    exit 1
  fi
  say "Installing system packages: $missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086  # word splitting of the package list is intended
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# ---- 2. Python -----------------------------------------------------------------------------------

file_hash() { cat "$@" | sha256sum | cut -d' ' -f1; }

install_python_env() {
  local python want have
  python="$(pick_python)" || {
    say "No Python >= 3.11 with the venv module was found. Install python3 (>= 3.11) and python3-venv."
    exit 1
  }
  want="$(file_hash pyproject.toml requirements/constraints.txt)-$("$python" -c 'import sys; print(sys.version.split()[0])')"
  have="$(cat "$STAMPS/python" 2>/dev/null || true)"
  if [ -x "$VENV/bin/python" ] && [ "$want" = "$have" ]; then
    return 0
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    say "Creating $VENV with $python"
    "$python" -m venv "$VENV"
  fi
  say "Installing pinned Python dependencies into .venv"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    -c requirements/constraints.txt -e ".[dev]"
  mkdir -p "$STAMPS"
  printf '%s\n' "$want" >"$STAMPS/python"
}

# ---- 3. npm developer tools --------------------------------------------------------------------
install_npm_tools() {
  local want have
  want="$(file_hash "$NPM_DIR/package.json" "$NPM_DIR/package-lock.json")"
  have="$(cat "$STAMPS/npm" 2>/dev/null || true)"
  if [ -d "$NPM_DIR/node_modules" ] && [ "$want" = "$have" ]; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    say "npm is missing: install Node.js 18+ and npm (Debian: apt-get install nodejs npm)."
    exit 1
  fi
  say "Installing npm developer tools (anvil, solc) into tools/npm"
  # --ignore-scripts: anvil's binary comes in its per-platform package; its postinstall script
  # would only re-fetch it, and npm versions differ on whether they run it at all.
  npm ci --prefix "$NPM_DIR" --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
  mkdir -p "$STAMPS"
  printf '%s\n' "$want" >"$STAMPS/npm"
}

# ---- 4. The bundle extra (PyInstaller), only for `make bundle` --------------------------------
install_bundle_extra() {
  local want have
  want="$(file_hash pyproject.toml requirements/constraints.txt)-$("$VENV/bin/python" -c 'import sys; print(sys.version.split()[0])')"
  have="$(cat "$STAMPS/bundle" 2>/dev/null || true)"
  if [ "$want" = "$have" ] && "$VENV/bin/python" -c 'import PyInstaller' 2>/dev/null; then
    return 0
  fi
  say "Installing the bundle extra (PyInstaller) into .venv"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    -c requirements/constraints.txt -e ".[dev,bundle]"
  mkdir -p "$STAMPS"
  printf '%s\n' "$want" >"$STAMPS/bundle"
}

WANT_BUNDLE=0
for arg in "$@"; do
  case "$arg" in
    --bundle) WANT_BUNDLE=1 ;;
    --quiet) ;;
    *) say "unknown option: $arg (usage: scripts/bootstrap.sh [--quiet] [--bundle])"; exit 2 ;;
  esac
done

if [ "$WANT_BUNDLE" -eq 1 ]; then
  SYSTEM_PACKAGES+=(binutils)
fi
install_system_packages
install_python_env
install_npm_tools
if [ "$WANT_BUNDLE" -eq 1 ]; then
  install_bundle_extra
fi
