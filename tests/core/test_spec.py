"""The on-chain spec string: layout (region at index 7), validation, GPU short names."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fizz_app.core.spec import REGION_INDEX, NodeSpec, build_spec, gpu_short_name, parse_spec

SPEC = NodeSpec(
    os="linux",
    node_type="gpu",
    cpu_units=8,
    memory_gb=16,
    storage_gb=200,
    gpu_model="rtx4090",
    gpu_units=1,
    region="us-east",
    bandwidth="100mbps",
    arch="x86_64",
    client_version="0.1.0",
)


def test_layout_puts_the_region_where_the_network_reads_it() -> None:
    text = build_spec(SPEC)
    assert text == "linux,gpu,8,16,200,rtx4090,1,us-east,100mbps,x86_64,0.1.0"
    # The real network's SDK reads the region as spec.split(',')[7].
    assert text.split(",")[REGION_INDEX] == "us-east"
    assert REGION_INDEX == 7


def test_round_trip() -> None:
    parsed = parse_spec(build_spec(SPEC))
    assert parsed["region"] == "us-east"
    assert parsed["cpu_units"] == "8"
    assert set(parsed) == {f.name for f in dataclasses.fields(NodeSpec)}


def test_short_foreign_spec_keeps_what_it_can() -> None:
    assert parse_spec("linux,cpu,4") == {"os": "linux", "node_type": "cpu", "cpu_units": "4"}


@pytest.mark.parametrize(
    ("field", "value"),
    [("region", "us,east"), ("region", ""), ("gpu_model", "rtx 4090"), ("cpu_units", -1)],
)
def test_values_that_would_break_the_layout_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"spec field {field}"):
        build_spec(dataclasses.replace(SPEC, **{field: value}))


@given(st.from_regex(r"[a-z][a-z0-9-]{1,20}", fullmatch=True))
def test_any_region_code_lands_at_index_7(region: str) -> None:
    assert build_spec(dataclasses.replace(SPEC, region=region)).split(",")[7] == region


@pytest.mark.parametrize(
    ("nvml_name", "short"),
    [
        ("NVIDIA GeForce RTX 4090", "rtx4090"),
        ("NVIDIA GeForce RTX 4070 Ti SUPER", "rtx4070tisuper"),
        ("NVIDIA GeForce RTX 3080 Ti", "rtx3080ti"),
        ("NVIDIA RTX A4000", "rtxa4000"),
        ("NVIDIA RTX 4000 Ada Generation", "rtx4000-ada"),
        ("Tesla T4", "t4"),
        ("Tesla V100-SXM2-16GB", "v100"),
        ("NVIDIA A10G", "a10g"),
        ("NVIDIA L4", "l4"),
        ("NVIDIA H100 80GB HBM3", "h100"),
        ("NVIDIA GeForce RTX 5090", "rtx5090"),
    ],
)
def test_gpu_short_names_match_the_network_tables(nvml_name: str, short: str) -> None:
    assert gpu_short_name(nvml_name) == short
