"""Running leases: the manifest rules, the container and WebAssembly runners, the lease book."""
