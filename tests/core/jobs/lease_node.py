"""A node process for the crash test: runs one container lease, then waits to be killed.

Run as ``python -m tests.core.jobs.lease_node DB SOCKET NODE_ID IMAGE LEASE_ID``; it prints
``running <port>`` once the lease runs.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from fizz_app.core.jobs.container import ContainerRunner
from fizz_app.core.jobs.lease_store import LeaseState, LeaseStore
from fizz_app.core.jobs.leases import LeaseManager
from fizz_app.core.jobs.manifest import Capacity

from .test_leases import http_job


def main() -> None:
    database, socket, node_id, image, lease_id = sys.argv[1:6]
    manager = LeaseManager(
        LeaseStore(Path(database)),
        [ContainerRunner(node_id, base_url=socket)],
        offered=lambda: Capacity(2000, 1024**3, 1024**3),
    )
    manager.submit(lease_id, http_job(image))
    while True:
        manager.poll()
        lease = manager.get(lease_id)
        assert lease is not None
        if lease.state is LeaseState.RUNNING:
            print(f"running {lease.ports[8080]}", flush=True)
            break
        if not lease.active:
            print(f"ended {lease.reason}", flush=True)
            return
        time.sleep(0.05)
    while True:  # the test kills us with SIGKILL
        time.sleep(60)


if __name__ == "__main__":
    main()
