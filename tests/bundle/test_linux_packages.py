"""The .deb and the portable tar.gz that installer/linux/build_deb.sh makes from the bundle:
unpacked into a scratch root (``dpkg -x``, no root rights needed), the menu entry's Exec and Icon
point at files that are really there, and the installed program runs from /opt."""

from __future__ import annotations

import configparser
import os
import shutil
import struct
import subprocess
import tarfile
from pathlib import Path

import pytest

from fizz_app import __version__

from .conftest import BUDGET_TARBALL, DIST, assert_each_name_on_path_runs_its_program

HICOLOR_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def _arch() -> str:
    return subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def deb() -> Path:
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not installed (not a Debian/Ubuntu machine)")
    path = DIST / f"fizz-node_{__version__}_{_arch()}.deb"
    if not path.is_file():
        pytest.fail(f"{path} is missing: build it first (make bundle)")
    return path


@pytest.fixture(scope="module")
def installed(deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("deb-root")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root


def _inside(root: Path, path: str) -> Path:
    """``path`` (absolute, as on the installed system) within the scratch root."""
    assert path.startswith("/"), path
    return root / path.lstrip("/")


def _resolve(root: Path, path: str) -> Path:
    """Follow symbolic links the way the installed system would, within the scratch root."""
    current = _inside(root, path)
    for _ in range(10):
        if not current.is_symlink():
            return current
        target = os.readlink(current)
        current = _inside(root, target) if target.startswith("/") else current.parent / target
    raise AssertionError(f"symlink loop at {path}")


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_control_fields(deb: Path) -> None:
    def field(name: str) -> str:
        return subprocess.run(
            ["dpkg-deb", "-f", str(deb), name], capture_output=True, text=True, check=True
        ).stdout.strip()

    assert field("Package") == "fizz-node"
    assert field("Version") == __version__
    assert field("Architecture") == _arch()
    depends = field("Depends")
    for library in ("libegl1", "libgl1", "libfontconfig1", "libxkbcommon0", "libglib2.0-0"):
        assert library in depends
    for library in ("libdbus-1-3", "libxcb-cursor0", "libxcb-icccm4", "libxkbcommon-x11-0"):
        assert library in depends
    assert "libc6 (>= " in depends


def test_menu_entry_points_at_installed_files(installed: Path) -> None:
    entry_file = installed / "usr/share/applications/fizz-node.desktop"
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(entry_file.read_text())
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Fizz Node"
    program = entry["Exec"].split()[0]
    assert program == "/opt/fizz-node/Fizz"
    assert os.access(_inside(installed, program), os.X_OK)
    assert entry["TryExec"] == program
    icon = entry["Icon"]
    assert icon == "fizz-node"  # a theme name, the one the autostart entry uses too
    for size in HICOLOR_SIZES:
        png = installed / f"usr/share/icons/hicolor/{size}x{size}/apps/{icon}.png"
        assert _png_size(png) == (size, size)
    assert (installed / f"usr/share/icons/hicolor/scalable/apps/{icon}.svg").is_file()
    validate = shutil.which("desktop-file-validate")
    if validate is not None:
        result = subprocess.run([validate, str(entry_file)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_commands_on_path_run_from_opt(
    installed: Path, frozen_env: dict[str, str], tmp_path: Path
) -> None:
    cli = _resolve(installed, "/usr/bin/fizz-node")
    app = _resolve(installed, "/usr/bin/fizz-app")
    assert cli == installed / "opt/fizz-node/fizz-node"
    assert app == installed / "opt/fizz-node/Fizz"
    # One executable stored once: fizz-node is a hard link to Fizz, kept by dpkg.
    assert cli.stat().st_ino == app.stat().st_ino
    # The programs run from where the package put it (not from dist/), and started by the
    # names on PATH, each is what its name says.
    assert_each_name_on_path_runs_its_program(cli, app, frozen_env, tmp_path)


def test_portable_tarball_holds_the_bundle() -> None:
    tarball = DIST / f"fizz-node-{__version__}-linux-{_arch()}.tar.gz"
    assert tarball.is_file(), f"{tarball} is missing: build it first (make bundle)"
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
        fizz = archive.getmember("Fizz/Fizz")
        cli = archive.getmember("Fizz/fizz-node")
    assert {"Fizz/Fizz", "Fizz/fizz-node", "Fizz/_internal/resources/profiles/devnet.json"} <= names
    assert fizz.mode & 0o111
    assert not any(name.startswith(("Fizz/_internal/devnet/", "/")) for name in names)
    # The executable's second name is stored as a hard link, not a second copy.
    links = {member.name: member.linkname for member in (fizz, cli) if member.islnk()}
    assert links in ({"Fizz/fizz-node": "Fizz/Fizz"}, {"Fizz/Fizz": "Fizz/fizz-node"})
    size = tarball.stat().st_size
    assert size <= BUDGET_TARBALL, f"{tarball.name} is {size / 1e6:.1f} MB: the budget is 90 MB"
