"""The local container engine for the devnet, tests and benchmarks: a private Podman service
(the Docker Engine API) and the busybox image built on this machine (nothing is pulled)."""
