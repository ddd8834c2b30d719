"""The local container engine for the devnet, tests and benchmarks: a private Podman service
(the Docker Engine API), the busybox image built on this machine, and a local read-only
registry to pull images from (no public registry is reachable here)."""
