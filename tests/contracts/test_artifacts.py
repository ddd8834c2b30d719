"""The committed artifacts are what the sources compile to, and they carry the real network's
signatures (contracts/real-signatures.json)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak

from devnet.chain.artifacts import SEED_FILE, artifacts_dir, load_artifact
from fizz_app.core.contracts import abi_signature as signature_of
from fizz_app.core.contracts import canonical_type

ROOT = Path(__file__).resolve().parents[2]
SIGNATURES = ROOT / "contracts" / "real-signatures.json"


def committed_artifacts() -> dict[str, Path]:
    return {p.stem: p for p in sorted(artifacts_dir().glob("*.json")) if p.name != SEED_FILE}


def real_signatures() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(SIGNATURES.read_text(encoding="utf-8"))["entries"]
    return entries


def abi_entry(contract: str, kind: str, signature: str) -> dict[str, Any] | None:
    for entry in load_artifact(contract).abi:
        if entry["type"] != kind:
            continue
        if kind == "constructor":
            types = ",".join(canonical_type(p) for p in entry["inputs"])
            if f"constructor({types})" == signature:
                return entry
        elif signature_of(entry) == signature:
            return entry
    return None


def test_a_rebuild_is_byte_identical_to_the_committed_artifacts(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed here, so the contracts cannot be recompiled")
    out = tmp_path / "artifacts"
    result = subprocess.run(
        [node, str(ROOT / "contracts" / "compile.mjs"), str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr, result.stderr
    rebuilt = {p.stem: p for p in sorted(out.glob("*.json"))}
    committed = committed_artifacts()
    assert sorted(rebuilt) == sorted(committed), "run `node contracts/compile.mjs` and commit"
    for name, path in rebuilt.items():
        assert path.read_bytes() == committed[name].read_bytes(), (
            f"{name}.json is stale: run `node contracts/compile.mjs` and commit the result"
        )


def test_artifacts_share_one_source_hash_and_have_bytecode() -> None:
    hashes = set()
    for name, path in committed_artifacts().items():
        data = json.loads(path.read_text(encoding="utf-8"))
        assert sorted(data) == ["abi", "bytecode", "contractName", "sourceHash"]
        assert data["contractName"] == name
        assert data["bytecode"].startswith("0x") and len(bytes.fromhex(data["bytecode"][2:])) > 1000
        hashes.add(data["sourceHash"])
        assert path.read_text(encoding="utf-8") == json.dumps(data, indent=2, sort_keys=True) + "\n"
    assert len(hashes) == 1


@pytest.mark.parametrize(
    "entry",
    real_signatures(),
    ids=lambda e: f"{e['contract']}.{e['signature']}",
)
def test_real_signature_is_in_the_compiled_abi(entry: dict[str, Any]) -> None:
    found = abi_entry(entry["contract"], entry["kind"], entry["signature"])
    assert found is not None, f"{entry['contract']} lacks {entry['kind']} {entry['signature']}"
    digest = keccak(text=entry["signature"])
    if entry["kind"] in ("function", "error"):
        assert entry["selector"] == "0x" + digest[:4].hex()
    if entry["kind"] == "event":
        assert entry["topic0"] == "0x" + digest.hex()
        assert [p["indexed"] for p in found["inputs"]] == entry["indexed"]
        assert found.get("anonymous") is False
    if "outputs" in entry:
        assert [canonical_type(p) for p in found["outputs"]] == entry["outputs"]


def test_the_reference_selector_and_topic_match() -> None:
    quoted = [e for e in real_signatures() if any(k.startswith("reference") for k in e)]
    assert len(quoted) == 2
    for entry in quoted:
        digest = "0x" + keccak(text=entry["signature"]).hex()
        if "referenceSelector" in entry:
            assert digest[:10] == entry["referenceSelector"] == "0x2ba499d0"
        else:
            assert digest.startswith(entry["referenceTopic0Prefix"]) and digest.endswith(
                entry["referenceTopic0Suffix"]
            )
            assert entry["referenceTopic0Prefix"] == "0xbac01429"
    registry = {signature_of(e): e for e in load_artifact("FizzRegistry").abi if "name" in e}
    assert "addFizzNode((uint256,string,address,address[],address))" in registry


def test_every_reference_error_of_fizz_registry_is_declared() -> None:
    errors = {e["name"] for e in load_artifact("FizzRegistry").abi if e["type"] == "error"}
    listed = {
        e["signature"][:-2]
        for e in real_signatures()
        if e["contract"] == "FizzRegistry" and e["kind"] == "error"
    }
    assert len(listed) == 11
    assert listed <= errors
