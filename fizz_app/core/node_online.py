"""Going online: the gateway link of a :class:`~fizz_app.core.node.Node`, kept up while the
owner wants the node online, and pinned to the certificate the gateway published on chain.

:class:`GatewaySession` is one of ``Node``'s parts (its state belongs to ``Node``; see the
attributes below). It unlocks the wallet, finds the node's registration and gateway on chain,
runs the tunnel (:class:`~fizz_app.core.tunnel.GatewayLink`) and retries after failures. When
the gateway presents a certificate other than the pinned one, it reads the gateway from chain
again and pins the one published there (a renewal); it never connects unpinned. When the
gateway stops answering, it reads the chain again every few attempts and follows the gateway
to a new published address (a move).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .chain_health import call_detached
from .desired import Desired
from .errors import UserFacingError
from .gateway_desk import GatewayDesk
from .node_account import AccountIntents
from .online import OnlineTarget, find_gateway
from .state import DesiredState, NodeStatus
from .tunnel import GatewayLink, GatewayRefused

if TYPE_CHECKING:
    from .chain import AsyncChainClient, GatewayInfo

__all__ = ["CERTIFICATE_MISMATCH", "GatewaySession"]

log = logging.getLogger(__name__)

RETRY_S = 15.0
"""Seconds between attempts to go online after a failure (sooner when woken)."""
CERTIFICATE_MISMATCH = (
    "The gateway's certificate does not match the one it published on chain.",
    "Fizz Node keeps retrying with the published certificate and looks for a new one on "
    "chain. If this lasts, something between this machine and the gateway may be "
    "intercepting the connection (a captive portal, a proxy): try another network, or link "
    "the node to another gateway.",
)
"""Status while the gateway presents a certificate other than the one on chain (message,
remedy): a renewal not published yet, or an impostor. The node never connects unpinned."""


class GatewaySession(AccountIntents):
    """Going online and staying online (on top of the account's intents, whose chain watch
    runs while online); the attributes below belong to ``Node``."""

    _desired: Desired
    _desk: GatewayDesk | None
    _link: GatewayLink | None
    _online_task: asyncio.Task[None] | None
    _pin_error: str | None
    _link_options: dict[str, Any]

    # Provided by Node.
    _set_status: Callable[[NodeStatus, str], None]
    _capacity_report: Callable[[], dict[str, Any]]

    def _ensure_online(self) -> None:
        if self._online_task is None or self._online_task.done():
            self._online_task = asyncio.create_task(self._online(), name="node-online")
        self._wake.set()

    async def _go_offline(self, *, stop_jobs: bool) -> None:
        task, self._online_task = self._online_task, None
        if stop_jobs and self._manager is not None:
            for lease in self._manager.leases(active_only=True):
                await asyncio.to_thread(self._manager.close, lease.lease_id)
            await self._drain_leases(timeout=30.0)
        if self._link is not None:
            self._link.stop()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._link = None
        self._snapshot = self._snapshot.evolve(gateway=None)
        self._update_status()

    async def _drain_leases(self, timeout: float) -> None:
        manager = self._manager
        deadline = time.monotonic() + timeout
        while manager is not None and manager.leases(active_only=True):
            if time.monotonic() > deadline:
                log.warning("leases still closing after %.0f s", timeout)
                return
            await asyncio.to_thread(manager.poll)
            await asyncio.sleep(0.1)

    async def _online(self) -> None:
        """Stay online while the user wants it; wait and retry after failures."""
        while self._desired.state is not DesiredState.OFFLINE:
            try:
                await self._run_link()
                return
            except GatewayRefused as refused:
                self._error = f"{refused.message} {refused.remedy}".strip()
            except UserFacingError as error:
                self._error = str(error)
                if "not registered" in error.message:
                    self._registered = False
            except Exception as error:  # a bug or an unexpected library error: retry later
                log.exception("going online failed")
                self._error = f"Going online failed ({type(error).__name__}); retrying."
            self._link = None
            self._update_status()
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), RETRY_S)

    async def _run_link(self) -> None:
        self._error = None
        self._set_status(NodeStatus.CONNECTING, "Unlocking the wallet and looking up the gateway")
        settings = self._settings
        target = await find_gateway(
            lambda: self._chain_factory(settings), await self._wallet_access(), self._passphrase()
        )
        self._registered = True
        self._snapshot = self._snapshot.evolve(wallet_address=target.wallet.address)
        try:
            link = self._make_link(target, target.gateway)
        except BaseException:
            target.wallet.close()
            raise
        self._target = target
        watcher = asyncio.create_task(self._watch_chain(target), name="chain-watch")
        try:
            while True:
                renewed = await self._run_pinned(link)
                if renewed is None:
                    return
                # The gateway renewed its certificate (or moved) and published it: pin that.
                self._target = target = dataclasses.replace(target, gateway=renewed)
                link = self._make_link(target, renewed)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            self._target = None
            self._pin_error = None
            target.wallet.close()

    def _make_link(self, target: OnlineTarget, gateway: GatewayInfo) -> GatewayLink:
        """A link to ``gateway`` pinning its published certificate, attached to the desk.

        Raises:
            UserFacingError: an unusable address, or no readable certificate for ``wss://``.
        """
        assert self._desk is not None
        link = GatewayLink(
            gateway.provider_id,
            gateway.host_uri,
            gateway.certificate,
            signer=target.wallet,
            capacity=self._capacity_report,
            desk=self._desk,
            instance_id=self._desired.instance_id,
            **self._link_options,
        )
        self._desk.attach(link, asyncio.get_running_loop())
        self._link = link
        self._update_status()
        return link

    async def _run_pinned(self, link: GatewayLink) -> GatewayInfo | None:
        """Run ``link`` until it stops (``None``), or until the gateway turns out to have
        published another certificate or address on chain: then the link is stopped and the
        gateway as published now is returned, to be pinned by a new link. The chain is read
        again when the gateway presents a certificate other than the pinned one (while the
        chain still names the pinned one, the link keeps retrying with it and the status says
        so), and after every few connection attempts in a row that failed (it may have moved).

        Raises:
            GatewayRefused: the gateway refused the node for good.
        """
        running = asyncio.create_task(link.run(), name="gateway-link")
        rejected = asyncio.create_task(link.certificate_rejected(), name="gateway-pin")
        unreachable = asyncio.create_task(link.unreachable(), name="gateway-unreachable")
        chain: AsyncChainClient | None = None
        try:
            while True:
                done, _ = await asyncio.wait(
                    {running, rejected, unreachable}, return_when=asyncio.FIRST_COMPLETED
                )
                if running in done:
                    running.result()  # GatewayRefused, or the link was stopped
                    return None
                chain = chain or self._chain_factory(self._settings)
                published = await _published_gateway(chain, link.provider_id)
                if published is not None and (published.host_uri, published.certificate) != (
                    link.host_uri,
                    link.certificate,
                ):
                    log.info(
                        "gateway %d published a new certificate or address on chain; "
                        "connecting with it",
                        link.provider_id,
                    )
                    self._pin_error = None
                    link.stop()
                    await running
                    return published
                if unreachable in done:  # not moved: keep retrying where it is
                    unreachable = asyncio.create_task(
                        link.unreachable(), name="gateway-unreachable"
                    )
                if rejected in done:
                    rejected = asyncio.create_task(link.certificate_rejected(), name="gateway-pin")
                    if self._pin_error is None:
                        log.warning(
                            "gateway %d at %s presents a certificate other than the one it "
                            "published on chain; refusing it",
                            link.provider_id,
                            link.url,
                        )
                    self._pin_error = " ".join(CERTIFICATE_MISMATCH)
                    self._update_status()
        finally:
            for task in (rejected, unreachable, running):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task


async def _published_gateway(chain: AsyncChainClient, provider_id: int) -> GatewayInfo | None:
    """Gateway ``provider_id`` as the chain publishes it now; ``None`` when the chain cannot
    be read (logged: the pinned certificate stays)."""
    try:
        # Detached: a hung RPC call must not hold up going offline or quitting.
        return await call_detached(
            functools.partial(chain.client.gateway, provider_id), "gateway-lookup"
        )
    except UserFacingError as error:
        log.warning("cannot read gateway %d from chain: %s", provider_id, error)
        return None
