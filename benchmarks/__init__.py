"""Benchmarks: scripts whose results go in RESULTS.md (also `fizz-node bench ...`)."""
