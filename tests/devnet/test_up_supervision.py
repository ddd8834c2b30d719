"""``devnet up``'s supervision: a child that dies is started again (its log kept), within a
budget of restarts, and the gateway's TLS certificate survives its restarts."""

from __future__ import annotations

import datetime
import json
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509

from devnet.gateway.tls import kept_certificate, self_signed_certificate
from devnet.supervise import SupervisionError
from devnet.up import MAX_RESTARTS, RESTART_WINDOW_S, Supervised, _keep_running


class _Chain:
    running = True


def _script(text: str) -> list[str]:
    return [sys.executable, "-c", text]


def test_a_child_that_dies_is_started_again_with_its_earlier_output_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flag = tmp_path / "ran-once"
    # The first run gets ready and dies; the second stays up.
    code = (
        "import pathlib, sys, time\n"
        f"flag = pathlib.Path({str(flag)!r})\n"
        "first = not flag.exists()\n"
        "flag.touch()\n"
        "print('ready', 'first' if first else 'again', flush=True)\n"
        "time.sleep(0.2 if first else 60)\n"
        "sys.exit(7)\n"
    )
    item = Supervised("worker", _script(code), r"ready")
    child = item.start({}, tmp_path)
    child.process.wait(10)
    with pytest.raises(KeyboardInterrupt):
        _run_until(item, lambda: "ready again" in (item.child.output() if item.child else ""))
    assert item.child is not None and item.child.running
    assert item.child.output().splitlines() == ["ready first", "ready again"]
    said = capsys.readouterr().out
    assert f"worker exited (7); starting it again (restart 1 of at most {MAX_RESTARTS}" in said
    assert "worker is back" in said
    item.child.stop(grace_s=5)


def test_a_child_that_keeps_dying_stops_everything(tmp_path: Path) -> None:
    item = Supervised("broken", _script("print('ready', flush=True)"), r"ready")
    item.start({}, tmp_path)
    with pytest.raises(SupervisionError, match=rf"broken exited \(0\) {MAX_RESTARTS + 1} times"):
        _keep_running([item], _Chain(), {}, tmp_path)


def test_the_restart_budget_is_per_window() -> None:
    item = Supervised("x", [], "")
    assert all(item.may_restart(float(t)) for t in range(MAX_RESTARTS))
    assert not item.may_restart(float(MAX_RESTARTS))
    # Long after, the old restarts no longer count.
    assert item.may_restart(MAX_RESTARTS + RESTART_WINDOW_S + 1)


def test_the_chain_dying_stops_everything(tmp_path: Path) -> None:
    class Dead:
        running = False

    with pytest.raises(SupervisionError, match="anvil"):
        _keep_running([], Dead(), {}, tmp_path)


def _run_until(item: Supervised, done: Callable[[], bool], timeout: float = 30) -> None:
    """Run the supervision loop until ``done()`` holds, then interrupt it as Ctrl-C would."""
    deadline = time.monotonic() + timeout

    class Watch:
        """Stands in for the chain (always up) and ends the loop."""

        @property
        def running(self) -> bool:
            if done():
                raise KeyboardInterrupt
            assert time.monotonic() < deadline, "the child was not restarted in time"
            return True

    assert item.child is not None
    _keep_running([item], Watch(), {}, item.child.log.parent)


def test_the_gateway_certificate_is_kept_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "gateway-tls.json"
    first = kept_certificate(path, "127.0.0.1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds the private key
    assert kept_certificate(path, "127.0.0.1") == first
    # Another address, or a certificate about to expire, gets a new one.
    other = kept_certificate(path, "10.0.0.5")
    assert other != first
    old = self_signed_certificate(
        "10.0.0.5", days=1, now=datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
    )
    path.write_text(json.dumps({"host": "10.0.0.5", "cert_pem": old.cert_pem,
                                "key_pem": old.key_pem}))  # fmt: skip
    renewed = kept_certificate(path, "10.0.0.5")
    assert renewed != old
    expires = x509.load_pem_x509_certificate(renewed.cert_pem.encode()).not_valid_after_utc
    assert expires - datetime.datetime.now(datetime.UTC) > datetime.timedelta(days=20)


def test_an_unreadable_kept_certificate_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "gateway-tls.json"
    path.write_text("{not json")
    made = kept_certificate(path, "127.0.0.1")
    assert json.loads(path.read_text())["cert_pem"] == made.cert_pem
