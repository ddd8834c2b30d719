"""The manifest rules: the real network's ServiceManifest shape in, every sandbox escape out."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fizz_app.core.jobs.manifest import (
    Capacity,
    ExposedPort,
    ManifestError,
    Runtime,
    check_fits,
    parse_manifest,
)

MIB = 1024**2
GIB = 1024**3
WASM_HEADER = b"\x00asm\x01\x00\x00\x00"


def real_manifest(**overrides: Any) -> dict[str, Any]:
    """A service manifest as the real SDK builds it (spheron-network.md 6.2)."""
    data: dict[str, Any] = {
        "name": "web",
        "image": "localhost/fizz-test:1",
        "command": ["httpd"],
        "args": ["-f", "-p", "8080"],
        "env": ["GREETING=hello world", "EMPTY="],
        "resources": {
            "id": 1,
            "cpu": {"units": {"val": "500"}},
            "memory": {"size": {"val": str(256 * MIB)}},
            "storage": [{"name": "default", "size": {"val": str(GIB)}}],
            "gpu": {"units": {"val": "0"}},
            "endpoints": None,
        },
        "count": 1,
        "expose": [
            {
                "port": 8080,
                "externalPort": 0,
                "proto": "TCP",
                "service": "",
                "global": True,
                "hosts": None,
                "httpOptions": {},
                "ip": "",
                "endpointSequenceNumber": 0,
            }
        ],
        "credentials": None,
        "pull_policy": "IfNotPresent",
    }
    data.update(overrides)
    return data


def refused(data: Any) -> ManifestError:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(data)
    return caught.value


def test_real_sdk_shape_parses_to_exact_sizes() -> None:
    manifest = parse_manifest(real_manifest())
    assert manifest.name == "web"
    assert manifest.runtime is Runtime.CONTAINER
    assert manifest.command == ("httpd",)
    assert manifest.args == ("-f", "-p", "8080")
    assert manifest.env == {"GREETING": "hello world", "EMPTY": ""}
    assert manifest.cpu_millicores == 500
    assert manifest.memory_bytes == 256 * MIB
    assert manifest.storage_bytes == GIB
    assert manifest.gpu_units == 0
    assert manifest.expose == (ExposedPort(8080),)


def test_gpu_model_comes_from_the_vendor_attribute() -> None:
    resources = real_manifest()["resources"]
    resources["gpu"] = {
        "units": {"val": "1"},
        "attributes": [{"key": "vendor/nvidia/model/rtx4090", "value": "true"}],
    }
    manifest = parse_manifest(real_manifest(resources=resources))
    assert (manifest.gpu_units, manifest.gpu_model) == (1, "rtx4090")


@pytest.mark.parametrize(
    "key, value",
    [
        ("privileged", True),
        ("network_mode", "host"),
        ("host_network", True),
        ("volumes", ["/home:/data"]),
        ("binds", ["/:/host"]),
        ("mounts", [{"source": "/etc"}]),
        ("devices", ["/dev/kvm"]),
        ("cap_add", ["SYS_ADMIN"]),
        ("security_opt", ["seccomp=unconfined"]),
        ("pid_mode", "host"),
        ("user", "root"),
    ],
)
def test_sandbox_weakening_requests_are_refused_by_name(key: str, value: Any) -> None:
    error = refused(real_manifest(**{key: value}))
    assert error.code == "forbidden"
    assert error.field == key
    assert key in str(error)


def test_a_forbidden_key_nested_in_resources_is_refused_too() -> None:
    resources = real_manifest()["resources"]
    resources["devices"] = ["/dev/nvidia0"]
    error = refused(real_manifest(resources=resources))
    assert (error.code, error.field) == ("forbidden", "resources.devices")


def test_unknown_fields_are_refused_not_ignored() -> None:
    error = refused(real_manifest(healthcheck={"test": "x"}))
    assert (error.code, error.field) == ("invalid", "healthcheck")
    assert "unknown field" in str(error)


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"name": "Web Server"}, "name"),
        ({"image": "busybox; rm -rf /"}, "image"),
        ({"count": 3}, "count"),
        ({"env": ["NOEQUALS"]}, "env[0]"),
        ({"env": ["1BAD=x"]}, "env[0]"),
        ({"args": "not-a-list"}, "args"),
        ({"command": [1, 2]}, "command[0]"),
        ({"runtime": "vm"}, "runtime"),
        ({"expose": [{"port": 80}]}, "expose[0].port"),
        ({"expose": [{"port": 70000}]}, "expose[0].port"),
        ({"expose": [{"port": 8080, "proto": "UDP"}]}, "expose[0].proto"),
        ({"expose": [{"port": 8080}, {"port": 8080}]}, "expose[1].port"),
        ({"wasm_module": "AAAA"}, "wasm_module"),
    ],
)
def test_bad_values_name_the_field(overrides: dict[str, Any], field: str) -> None:
    error = refused(real_manifest(**overrides))
    assert error.field == field
    assert error.code == "invalid"
    assert field.split("[")[0].split(".")[0] in str(error)


@pytest.mark.parametrize(
    "cpu, field",
    [
        ({"units": {"val": "-5"}}, "resources.cpu.units"),
        ({"units": {"val": "lots"}}, "resources.cpu.units"),
        ({"units": {"val": True}}, "resources.cpu.units"),
        ({"units": {"val": "0"}}, "resources.cpu.units"),
        ({"units": {"value": "5"}}, "resources.cpu.units.value"),
    ],
)
def test_bad_quantities_are_refused(cpu: dict[str, Any], field: str) -> None:
    resources = real_manifest()["resources"]
    resources["cpu"] = cpu
    assert refused(real_manifest(resources=resources)).field == field


def test_more_than_one_gpu_is_refused_as_beyond_the_offer() -> None:
    resources = real_manifest()["resources"]
    resources["gpu"] = {"units": {"val": "2"}}
    error = refused(real_manifest(resources=resources))
    assert (error.code, error.field) == ("exceeds_offer", "resources.gpu.units")


def test_wasm_job_carries_its_module() -> None:
    module = WASM_HEADER + b"rest"
    manifest = parse_manifest(
        {
            "name": "hello",
            "runtime": "wasm",
            "wasm_module": base64.b64encode(module).decode(),
            "args": ["x"],
        }
    )
    assert manifest.runtime is Runtime.WASM
    assert manifest.wasm_module == module
    assert "rest" not in repr(manifest)  # the module never floods logs


@pytest.mark.parametrize(
    "data, field",
    [
        ({"name": "hello", "runtime": "wasm"}, "wasm_module"),
        ({"name": "hello", "runtime": "wasm", "wasm_module": "!!!"}, "wasm_module"),
        (
            {"name": "hello", "runtime": "wasm", "wasm_module": base64.b64encode(b"MZ").decode()},
            "wasm_module",
        ),
        (
            {
                "name": "hello",
                "runtime": "wasm",
                "wasm_module": base64.b64encode(WASM_HEADER).decode(),
                "expose": [{"port": 8080}],
            },
            "runtime",
        ),
    ],
)
def test_bad_wasm_jobs_are_refused(data: dict[str, Any], field: str) -> None:
    assert refused(data).field == field


def capacity(**overrides: Any) -> Capacity:
    values: dict[str, Any] = {
        "cpu_millicores": 2000,
        "memory_bytes": 2 * GIB,
        "storage_bytes": 10 * GIB,
        "gpu_units": 0,
    }
    values.update(overrides)
    return Capacity(**values)


def test_a_manifest_within_the_offer_fits() -> None:
    check_fits(parse_manifest(real_manifest()), capacity())


@pytest.mark.parametrize(
    "offer, field, words",
    [
        ({"cpu_millicores": 400}, "resources.cpu.units", "500m of CPU"),
        ({"memory_bytes": 128 * MIB}, "resources.memory.size", "256 MiB of memory"),
        ({"storage_bytes": 512 * MIB}, "resources.storage", "1024 MiB of storage"),
        ({"runtimes": frozenset({Runtime.WASM})}, "runtime", "cannot run container"),
    ],
)
def test_asking_for_more_than_offered_is_refused(
    offer: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(ManifestError) as caught:
        check_fits(parse_manifest(real_manifest()), capacity(**offer))
    assert (caught.value.code, caught.value.field) == ("exceeds_offer", field)
    assert words in str(caught.value)


def test_gpu_requests_need_the_gpu_and_the_model() -> None:
    resources = real_manifest()["resources"]
    resources["gpu"] = {
        "units": {"val": "1"},
        "attributes": [{"key": "vendor/nvidia/model/h100", "value": "true"}],
    }
    manifest = parse_manifest(real_manifest(resources=resources))
    with pytest.raises(ManifestError, match="GPU"):
        check_fits(manifest, capacity())
    with pytest.raises(ManifestError, match="h100 GPU but this node has rtx4090"):
        check_fits(manifest, capacity(gpu_units=1, gpu_model="rtx4090"))
    check_fits(manifest, capacity(gpu_units=1, gpu_model="h100"))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
manifest_like = st.fixed_dictionaries(
    {},
    optional={
        key: json_values
        for key in ("name", "image", "runtime", "command", "args", "env", "resources", "expose")
    },
)


@settings(max_examples=1500, deadline=None)
@given(data=json_values | manifest_like)
def test_any_json_either_parses_or_is_refused_with_a_field(data: Any) -> None:
    try:
        parse_manifest(data)
    except ManifestError as error:
        assert error.field
        assert error.code in {"invalid", "forbidden", "exceeds_offer"}
