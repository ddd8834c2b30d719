"""``fizz-node devnet tenant``: a demo tenant that rents nodes through the real flow.

It deposits uSPON in EscrowUser (minted by the faucet), then each round:

1. **web**: orders a busybox httpd service (``createOrder`` with the devnet order spec), waits
   for the matchmaker's lease, sends the manifest to the gateway's tenant API (HTTPS, pinning
   the certificate the gateway publishes on chain), waits until it runs, fetches its page
   through the gateway's public port and checks it, lets it run ``--lease-seconds``, then
   closes the lease on chain (``ComputeLease.closeLease``);
2. **compute**: orders a WebAssembly job (sum of squares 1..100), reads its output through the
   lease logs and checks the number, then closes its lease.

The image is served by a registry in this process (:class:`devnet.engine.registry.LocalRegistry`
on 127.0.0.1) and named by its address, so the node really pulls it (Docker treats loopback
registries as insecure-allowed; ``devnet up``'s Podman engine is configured to).
One line is printed per step; a failed check exits 1. The tenant is anvil's third account.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import ssl
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from web3 import Web3
from web3.logs import DISCARD

from devnet.chain.deploy import Deployment
from devnet.chain.faucet import USPON_UNIT, fund
from devnet.chain.tx import TransactionError, send
from devnet.engine.images import INDEX_HTML, WEB_SERVER_COMMAND
from devnet.engine.registry import LocalRegistry
from devnet.market.orders import order_spec
from devnet.market.settlement import BLOCK_SECONDS
from fizz_app.core.errors import UserFacingError

__all__ = ["SUM_OF_SQUARES", "TenantError", "compute_service", "run", "web_service"]

MIB = 1024**2
SUM_OF_SQUARES = sum(i * i for i in range(1, 101))
DEPOSIT_USPON = 10_000
WEB_IMAGE = ("fizz/demo-web", "1")
SUM_WAT = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "sum of squares 1..100 = ")
  (func (export "_start") (local $i i32) (local $sum i32) (local $p i32) (local $n i32)
    (local.set $i (i32.const 1))
    (loop $next
      (local.set $sum (i32.add (local.get $sum) (i32.mul (local.get $i) (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $next (i32.le_u (local.get $i) (i32.const 100))))
    (i32.store8 (i32.const 300) (i32.const 10))
    (local.set $p (i32.const 300))
    (local.set $n (local.get $sum))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $digit (i32.ne (local.get $n) (i32.const 0))))
    (local.set $p (i32.sub (local.get $p) (i32.const 24)))
    (memory.copy (local.get $p) (i32.const 100) (i32.const 24))
    (i32.store (i32.const 0) (local.get $p))
    (i32.store (i32.const 4) (i32.sub (i32.const 301) (local.get $p)))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))))"""


class TenantError(RuntimeError):
    """A step failed or a check did not hold (the message says which)."""


def web_service(image: str) -> dict[str, Any]:
    """The busybox httpd ServiceManifest (serves /www on port 8080)."""
    return {
        "name": "web",
        "image": image,
        "command": list(WEB_SERVER_COMMAND),
        "resources": {
            "cpu": {"units": {"val": "500"}},
            "memory": {"size": {"val": str(64 * MIB)}},
            "storage": [{"name": "default", "size": {"val": str(16 * MIB)}}],
        },
        "count": 1,
        "expose": [{"port": 8080, "proto": "TCP", "global": True}],
    }


def compute_service() -> dict[str, Any]:
    """The WebAssembly job's ServiceManifest (prints the sum of squares 1..100)."""
    import wasmtime

    return {
        "name": "compute",
        "runtime": "wasm",
        "wasm_module": base64.b64encode(wasmtime.wat2wasm(SUM_WAT)).decode(),
        "resources": {
            "cpu": {"units": {"val": "250"}},
            "memory": {"size": {"val": str(16 * MIB)}},
            "storage": [{"name": "default", "size": {"val": str(MIB)}}],
        },
    }


def _say(text: str) -> None:
    print(f"[tenant] {time.strftime('%H:%M:%S')} {text}", flush=True)


class Tenant:
    """One tenant account on the devnet, talking to the gateway's tenant API at ``api_url``."""

    def __init__(self, deployment: Deployment, api_url: str, *, timeout: float = 120.0) -> None:
        if deployment.rpc_url is None:
            raise TenantError("the deployment file names no RPC address")
        self.deployment = deployment
        self.w3 = Web3(Web3.HTTPProvider(deployment.rpc_url, request_kwargs={"timeout": 15}))
        self.address = list(self.w3.eth.accounts)[2]
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self._uspon = deployment.address("USPON")
        self._orders = deployment.contract(self.w3, "OrderRequest")
        self._lease = deployment.contract(self.w3, "ComputeLease")
        self._ssl = self._pinned_context()

    def _pinned_context(self) -> ssl.SSLContext | None:
        if not self.api_url.startswith("https:"):
            return None
        registry = self.deployment.contract(self.w3, "ProviderRegistry")
        row = registry.functions.getProvider(self.deployment.gateway_provider_id).call()
        if not row[2]:
            raise TenantError("the gateway publishes no certificate on chain to pin")
        return ssl.create_default_context(cadata=str(row[2]))

    def deposit(self, uspon: int = DEPOSIT_USPON) -> None:
        """Mint ``uspon`` uSPON to the tenant (faucet) and deposit it in EscrowUser."""
        amount = uspon * USPON_UNIT
        fund(self.w3, self.deployment, self.address, 0, amount)
        escrow = self.deployment.address("EscrowUser")
        token = self.deployment.contract(self.w3, "USPON")
        send(self.w3, token.functions.approve(escrow, amount), self.address)
        user = self.deployment.contract(self.w3, "EscrowUser")
        send(self.w3, user.functions.deposit(self._uspon, amount), self.address)
        _say(f"{self.address} deposited {uspon} uSPON in escrow")

    def order(self, service: dict[str, Any], max_price: int, seconds: float) -> int:
        """Create an order for ``service`` lasting ``seconds``; its id."""
        blocks = max(1, math.ceil(seconds / BLOCK_SECONDS))
        spec = order_spec(service).to_spec()
        params: tuple[Any, ...] = (max_price, blocks, self._uspon, spec, 1, 0, [])
        receipt = send(self.w3, self._orders.functions.createOrder(params), self.address)
        created = self._orders.events.OrderCreated().process_receipt(receipt, errors=DISCARD)
        order_id = int(created[0]["args"]["orderId"])
        _say(f"order {order_id}: {service['name']} for {blocks} blocks, at most {max_price}/block")
        return order_id

    def wait_lease(self, order_id: int) -> tuple[int, int]:
        """Wait for the matchmaker's lease of ``order_id``; ``(fizz id, price per block)``."""
        row = self._until(lambda: self._active_lease(order_id), f"a lease for order {order_id}")
        _say(f"lease {order_id}: fizz node {row[1]} at {row[3]} per block (matched bid)")
        return int(row[1]), int(row[3])

    def _active_lease(self, lease_id: int) -> Any:
        row = self._lease.functions.leases(lease_id).call()
        return row if int(row[0]) == lease_id else None

    def deploy(self, lease_id: int, service: dict[str, Any]) -> None:
        """Send the manifest; retried while the gateway answers 503 (node reconnecting)."""
        body = json.dumps([{"name": "demo", "services": [service]}]).encode()

        def attempt() -> bool:
            try:
                self._api("PUT", f"/deployment/{lease_id}/manifest", body)
            except TenantError as error:
                if "503" in str(error):
                    return False
                raise
            return True

        self._until(attempt, f"the gateway to take lease {lease_id}'s manifest")
        _say(f"lease {lease_id}: manifest sent to {self.api_url}")

    def check_web(self, lease_id: int) -> str:
        """Wait until the web lease runs and its page is served through the public port;
        the ``host:port`` it was fetched from."""

        def published() -> Any:
            report = self._api("GET", f"/lease/{lease_id}/status")
            if report.get("state") in ("failed", "lost", "closed"):
                raise TenantError(f"lease {lease_id} {report['state']}: {report.get('reason')}")
            ports = report.get("forwarded_ports", {}).get("web") or []
            return ports[0] if ports and ports[0].get("available") else None

        port = self._until(published, f"lease {lease_id} to run with a public port")
        where = f"{port['host']}:{port['externalPort']}"
        body = self._until(lambda: _fetch(f"http://{where}/"), f"the page at {where}")
        if body != INDEX_HTML:
            raise TenantError(f"lease {lease_id} served {body[:80]!r}, expected {INDEX_HTML!r}")
        _say(f"lease {lease_id}: GET http://{where}/ -> 200, page as expected")
        return where

    def check_compute(self, lease_id: int) -> None:
        """Wait until the job's output shows the right sum in the lease logs."""
        expected = f"sum of squares 1..100 = {SUM_OF_SQUARES}"

        def output() -> bool:
            lines = self._api("GET", f"/lease/{lease_id}/logs?tail=200").get("lines", [])
            return any(expected in line for line in lines)

        self._until(output, f"lease {lease_id}'s output")
        _say(f"lease {lease_id}: job output verified ({expected})")

    def close(self, lease_id: int) -> None:
        """Close the lease on chain (what is left of its lock returns to the tenant)."""
        if self._lease.functions.leases(lease_id).call()[9] == 0:
            try:
                send(self.w3, self._lease.functions.closeLease(lease_id), self.address)
            except TransactionError:
                if self._lease.functions.leases(lease_id).call()[9] == 0:
                    raise
                # Closed meanwhile by the settlement: the job had finished on the node.
        escrow = self.deployment.contract(self.w3, "EscrowProtocol")
        fizz = int(self._lease.functions.leases(lease_id).call()[1])
        earned = escrow.functions.fizzNodeEarnings(fizz, self._uspon).call()[0]
        _say(f"lease {lease_id}: closed on chain; fizz node {fizz} has earned {earned} base units")

    def _api(self, method: str, path: str, body: bytes | None = None) -> Any:
        request = urllib.request.Request(self.api_url + path, data=body, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30, context=self._ssl) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:300]
            raise TenantError(f"{method} {path}: {error.code} {detail}") from None
        except (OSError, ValueError) as error:
            raise TenantError(f"{method} {path}: {error}") from None

    def _until(self, probe: Any, what: str) -> Any:
        deadline = time.monotonic() + self.timeout
        while True:
            result = probe()
            if result:
                return result
            if time.monotonic() > deadline:
                raise TenantError(f"no {what} within {self.timeout:g} s")
            time.sleep(0.5)


def _fetch(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            body: bytes = response.read()
            return body
    except OSError:
        return None


def run_round(tenant: Tenant, image: str, args: argparse.Namespace) -> None:
    """One round: the web service, then the WebAssembly job (module docstring)."""
    web = web_service(image)
    lease = tenant.order(web, args.max_price, args.lease_seconds + 60)
    tenant.wait_lease(lease)
    tenant.deploy(lease, web)
    tenant.check_web(lease)
    time.sleep(args.lease_seconds)
    tenant.close(lease)
    job = compute_service()
    lease = tenant.order(job, args.max_price, 60)
    tenant.wait_lease(lease)
    tenant.deploy(lease, job)
    tenant.check_compute(lease)
    tenant.close(lease)


def run(args: argparse.Namespace) -> int:
    """Run ``--rounds`` rounds (0: until Ctrl-C); 0 when every check held, 1 otherwise."""
    from devnet.cli import DEFAULT_API_URL, read_deployment
    from devnet.up import read_description

    if args.rounds < 0 or args.interval < 0 or args.lease_seconds < 0 or args.max_price <= 0:
        raise UserFacingError(
            "Rounds, interval and lease seconds must be 0 or more, the price positive.",
            "Check the arguments.",
        )
    deployment = read_deployment()
    description = read_description() or {}
    api_url = str(description.get("api_url") or DEFAULT_API_URL)
    try:
        tenant = Tenant(deployment, api_url, timeout=args.timeout)
        tenant.deposit()
        with LocalRegistry() as registry:
            registry.add_image(*WEB_IMAGE, cmd=WEB_SERVER_COMMAND)
            image = f"{registry.address}/{WEB_IMAGE[0]}:{WEB_IMAGE[1]}"
            _say(f"serving image {image} from this tenant's registry")
            done = 0
            while args.rounds == 0 or done < args.rounds:
                run_round(tenant, image, args)
                done += 1
                _say(f"round {done} done")
                if args.rounds == 0 or done < args.rounds:
                    time.sleep(args.interval)
    except TenantError as error:
        print(f"[tenant] failed: {error}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        _say("stopped")
    return 0
