"""Tests of the benchmark harnesses in benchmarks/ (correctness, never timings)."""
