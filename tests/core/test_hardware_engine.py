"""The container-engine part of the hardware check against a real Docker Engine API (Podman)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fizz_app.core.checks import CheckStatus
from fizz_app.core.hardware import probe_container_engine, probe_hardware
from fizz_app.core.requirements import evaluate, load_profile


def test_real_podman_answers(podman_socket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", podman_socket)
    engine = probe_container_engine()
    assert engine.status == "ok"
    assert engine.endpoint == podman_socket
    assert engine.name is not None and "Podman" in engine.name
    assert engine.version and engine.version[0].isdigit()


def test_check_passes_with_a_real_engine(
    podman_socket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", podman_socket)
    verdict = evaluate(probe_hardware(tmp_path), load_profile("devnet"))
    check = verdict.check("container_engine")
    assert check.status is CheckStatus.PASS
    assert "Podman" in check.detail and podman_socket in check.detail
    assert check.remedy == ""


def test_engine_that_stopped_answering_warns(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A socket file left behind by a crashed engine: it exists, but nobody listens.
    import socket

    path = tmp_path / "docker.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    engine = probe_container_engine()
    assert engine.status == "not_answering"
    verdict = evaluate(probe_hardware(tmp_path), load_profile("devnet"))
    check = verdict.check("container_engine")
    assert check.status is CheckStatus.WARN
    assert "Start Docker Desktop or the Docker/Podman service" in check.remedy
