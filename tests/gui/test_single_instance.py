"""One app per data folder: a second launch finds the first and asks it to raise its window."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from pytestqt.qtbot import QtBot  # noqa: E402

from fizz_app.gui.single_instance import SingleInstance, instance_key  # noqa: E402

pytestmark = pytest.mark.gui


def test_the_key_follows_the_data_folder(tmp_path: Path, gui_home: Path) -> None:
    assert instance_key() == instance_key(gui_home)
    assert instance_key(tmp_path / "a") != instance_key(tmp_path / "b")
    assert instance_key(tmp_path / "a").startswith("fizz-node-")
    assert len(instance_key(tmp_path / "a")) < 40  # short enough for a Unix socket path


def test_a_second_launch_raises_the_first(qtbot: QtBot, gui_home: Path) -> None:
    first = SingleInstance()
    assert not first.ask_running_to_raise()  # nothing runs yet
    first.listen()
    assert first.is_listening

    second = SingleInstance()
    assert second.key == first.key
    with qtbot.waitSignal(first.sig_raise_requested, timeout=5000):
        assert second.ask_running_to_raise()
    assert not second.is_listening

    # Another data folder is another app: it does not find the first.
    other = SingleInstance(instance_key(gui_home / "other"))
    assert not other.ask_running_to_raise()

    first.close()
    assert not first.is_listening
    assert not SingleInstance().ask_running_to_raise()


def test_a_stale_socket_is_claimed(qtbot: QtBot, gui_home: Path) -> None:
    # A crashed app leaves its Unix socket file behind; nobody answers on it.
    import socket
    import tempfile

    key = instance_key()
    path = Path(tempfile.gettempdir()) / key
    if not hasattr(socket, "AF_UNIX"):
        pytest.skip("named pipes leave nothing behind")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()
    try:
        instance = SingleInstance()
        assert not instance.ask_running_to_raise()
        instance.listen()
        assert instance.is_listening
        with qtbot.waitSignal(instance.sig_raise_requested, timeout=5000):
            assert SingleInstance().ask_running_to_raise()
        instance.close()
    finally:
        path.unlink(missing_ok=True)
