"""Tests of the job runtime: manifests, runners, leases."""
