"""The chain client: read a node's registration, rewards and earnings; register and manage it.

It speaks the real network's contract interface (FizzRegistry, FizzAttributeRegistry,
ResourceRegistry, FizzRewardsManager, EscrowProtocol), so the same code works against the
local devnet and the published Base deployments. Blocking: the engine calls it through
``asyncio.to_thread``; the CLI calls it directly.

What it reads comes back as the frozen data of :mod:`fizz_app.core.chain_types` (re-exported
here). Every failure is raised as a :class:`~fizz_app.core.chain_errors.ChainError` with a plain
message that never shows the RPC address's credentials or keys. Reads are retried with backoff
when the RPC endpoint refuses or drops the connection; one that timed out is not (the endpoint
kept silent for the whole HTTP timeout). Transactions are sent once (see
:mod:`fizz_app.core.transactions`) after checking the chain id.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import requests
from web3 import HTTPProvider, Web3
from web3.exceptions import TimeExhausted
from web3.logs import DISCARD
from web3.providers.rpc.utils import ExceptionRetryConfiguration

from .chain_errors import (
    ChainError,
    ContractRevertError,
    RpcUnreachableError,
    TransactionTimeoutError,
    WrongChainError,
    classify,
)
from .chain_health import public_url, scrub
from .chain_types import (
    FIZZ_STATUS_NAMES,
    Balances,
    ChainStatus,
    FizzRegistration,
    GatewayInfo,
    RewardsStatus,
    TokenAmount,
    TokenEarnings,
)
from .contracts import DecodedRevert, ErrorDecoder, load_abi
from .ledger_types import ActivityKind, TransferNote
from .networks import NetworkProfile
from .transactions import (
    PendingTx,
    PendingTxStore,
    SendUnanswered,
    SentTx,
    Settlement,
    Signer,
    TxSender,
)

__all__ = [
    "FIZZ_STATUS_NAMES",
    "TokenAmount",
    "FizzRegistration",
    "GatewayInfo",
    "RewardsStatus",
    "TokenEarnings",
    "Balances",
    "ChainStatus",
    "ChainClient",
    "AsyncChainClient",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

READ_RETRY_DELAYS = (0.5, 1.0, 2.0)
"""Seconds to wait before each retry of a read whose RPC endpoint refused the connection."""

RPC_TIMEOUT_S = 15.0
"""Seconds an RPC request may take before it counts as unanswered."""

ERC20_ABI: tuple[dict[str, Any], ...] = (
    {
        "type": "function",
        "name": "balanceOf",
        "stateMutability": "view",
        "inputs": [{"name": "account", "type": "address"}],
        "outputs": [{"name": "", "type": "uint256"}],
    },
    {
        "type": "function",
        "name": "decimals",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "", "type": "uint8"}],
    },
    {
        "type": "function",
        "name": "symbol",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "", "type": "string"}],
    },
)
"""The standard ERC-20 views this client reads; any token implements them."""

_CONTRACT_ABIS = {
    "FizzRegistry": "FizzRegistry",
    "FizzAttributeRegistry": "FizzAttributeRegistry",
    "FizzRewardsManager": "FizzRewardsManager",
    "ResourceRegistryCPU": "ResourceRegistry",
    "ResourceRegistryGPU": "ResourceRegistry",
    "EscrowProtocol": "EscrowProtocol",
    "ProviderRegistry": "ProviderRegistry",
}
"""Network contract key -> ABI artifact name."""


# ---- Client -----------------------------------------------------------------------------------


class ChainClient:
    """Talks to one network's contracts.

    Args:
        network: the network profile (chain id, RPC, addresses).
        data_dir: the app's data folder (pending transactions are remembered there).
        w3: a Web3 to use instead of an HTTP connection to ``network.rpc_url`` (tests use the
            in-process chain).
        receipt_timeout: seconds to wait for a transaction to be mined.
        rpc_timeout: seconds an HTTP request to the endpoint may take; a read that times out
            fails at once (:class:`RpcUnreachableError`), without retries.
        sleep: the retry pause; injected for tests.
    """

    def __init__(
        self,
        network: NetworkProfile,
        data_dir: Path,
        *,
        w3: Web3 | None = None,
        receipt_timeout: float = 120.0,
        rpc_timeout: float = RPC_TIMEOUT_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.network = network
        self._w3 = w3 or Web3(_http_provider(network.rpc_url, rpc_timeout))
        self._rpc_timeout = rpc_timeout
        self._sleep = sleep
        self._decoder = ErrorDecoder.for_contracts(sorted(set(_CONTRACT_ABIS.values())))
        self._chain_checked = False
        self._contracts: dict[str, Any] = {}
        self._tx = TxSender(
            self._w3,
            network.chain_id,
            PendingTxStore(data_dir / "chain" / f"{network.name}-pending.json"),
            receipt_timeout=receipt_timeout,
        )

    @property
    def w3(self) -> Web3:
        return self._w3

    # ---- Chain identity

    def verify_chain(self) -> None:
        """Check that the RPC endpoint serves the profile's chain.

        Raises:
            WrongChainError: it serves another chain (nothing is sent to it).
            RpcUnreachableError: it does not answer.
        """
        actual = self._read(lambda: int(self._w3.eth.chain_id))
        if actual != self.network.chain_id:
            raise WrongChainError(
                f"The RPC endpoint {public_url(self.network.rpc_url)} serves chain {actual}, but "
                f"{self.network.title} is chain {self.network.chain_id}.",
                "Set the right RPC address for this network in Settings, or choose the "
                "network that endpoint belongs to.",
            )
        self._chain_checked = True

    # ---- Reads

    def registration(self, address: str) -> FizzRegistration | None:
        """Return the node registration of ``address``, or ``None`` when it has none."""
        registry = self._contract("FizzRegistry")
        checksum = Web3.to_checksum_address(address)
        fizz_id = self._read(lambda: int(registry.functions.addressToFizzId(checksum).call()))
        if fizz_id == 0:
            return None
        row = self._read(lambda: registry.functions.getFizz(fizz_id).call())
        provider_id, spec, payments, status, joined, wallet, reward_wallet = row
        return FizzRegistration(
            fizz_id=fizz_id,
            provider_id=int(provider_id),
            spec=str(spec),
            payments_accepted=tuple(Web3.to_checksum_address(p) for p in payments),
            status=int(status),
            join_timestamp=int(joined),
            wallet_address=Web3.to_checksum_address(wallet),
            reward_wallet=Web3.to_checksum_address(reward_wallet),
        )

    def is_linked(self, fizz_id: int, provider_id: int) -> bool:
        """True when node ``fizz_id`` is registered and linked to gateway ``provider_id`` (what a
        gateway checks before it lets a node in)."""
        registry = self._contract("FizzRegistry")
        return bool(self._read(registry.functions.isFizzLinked(fizz_id, provider_id).call))

    def gateway(self, provider_id: int) -> GatewayInfo:
        """Return gateway ``provider_id``'s published address and certificate.

        Raises:
            ContractRevertError: ``ProviderNotFound`` when there is no such gateway.
        """
        registry = self._contract("ProviderRegistry")
        row = self._read(registry.functions.getProvider(provider_id).call)
        _spec, host_uri, certificate, wallet, _payments, status, _joined = row
        return GatewayInfo(
            provider_id=provider_id,
            host_uri=str(host_uri),
            certificate=str(certificate),
            wallet_address=Web3.to_checksum_address(wallet),
            status=int(status),
        )

    def gateways(self, limit: int = 100) -> list[GatewayInfo]:
        """Return the registered gateways, in id order (ids count up from 1 on chain; the
        first id that is not registered ends the list), at most ``limit``."""
        registry = self._contract("ProviderRegistry")
        found: list[GatewayInfo] = []
        for provider_id in range(1, limit + 1):
            if not self._read(registry.functions.isProviderRegistered(provider_id).call):
                break
            found.append(self.gateway(provider_id))
        return found

    def rewards(self, address: str) -> RewardsStatus:
        """Return the era, pending and accumulated rewards of ``address``."""
        manager = self._contract("FizzRewardsManager")
        fn = manager.functions
        checksum = Web3.to_checksum_address(address)
        spon = self._token_info("RewardToken")
        era = self._read(lambda: int(fn.getCurrentEra().call()))
        pending = self._read(lambda: int(fn.pendingRewards(checksum).call()))
        accumulated = self._read(lambda: int(fn.getAccRewardsForFizz(checksum).call()))
        per_era = self._read(lambda: int(fn.getFizzRewardsPerEra(checksum).call()))
        record = self._read(lambda: fn.getFizz(checksum).call())
        _fizz, last_claimed, denied, _slashed, paused, _paused_era, _before_pause = record
        return RewardsStatus(
            current_era=era,
            pending=TokenAmount(pending, *spon),
            accumulated=TokenAmount(accumulated, *spon),
            per_era=TokenAmount(per_era, *spon),
            last_claimed_era=int(last_claimed),
            denied=bool(denied),
            paused=bool(paused),
        )

    def earnings(self, fizz_id: int, tokens: Sequence[str]) -> tuple[TokenEarnings, ...]:
        """Return lease earnings of node ``fizz_id`` in each of ``tokens``."""
        escrow = self._contract("EscrowProtocol")
        result = []
        for token in tokens:
            checksum = Web3.to_checksum_address(token)
            decimals, symbol = self._erc20_info(checksum)
            earned, withdrawn, balance = self._read(
                escrow.functions.fizzNodeEarnings(fizz_id, checksum).call
            )
            result.append(
                TokenEarnings(
                    token=checksum,
                    earned=TokenAmount(int(earned), decimals, symbol),
                    withdrawn=TokenAmount(int(withdrawn), decimals, symbol),
                    balance=TokenAmount(int(balance), decimals, symbol),
                )
            )
        return tuple(result)

    def balances(self, address: str) -> Balances:
        """Return the gas balance and the uSPON and SPON (reward token) balances of ``address``."""
        checksum = Web3.to_checksum_address(address)
        wei = self._read(lambda: int(self._w3.eth.get_balance(checksum)))
        tokens = []
        for key in ("USPON", "RewardToken"):
            if key not in self.network.contracts:
                continue
            token = self._erc20(self.network.contracts[key])
            decimals, symbol = self._erc20_info(token.address)
            raw = int(self._read(token.functions.balanceOf(checksum).call))
            tokens.append(TokenAmount(raw, decimals, symbol))
        return Balances(TokenAmount(wei, 18, self.network.native_symbol), tuple(tokens))

    def status(self, address: str) -> ChainStatus:
        """Return everything known about ``address`` on this network."""
        self.verify_chain()
        registration = self.registration(address)
        rewards = None
        earnings: tuple[TokenEarnings, ...] = ()
        if registration is not None:
            rewards = self.rewards(address)
            tokens = registration.payments_accepted or tuple(
                self.network.contracts[k] for k in ("USPON",) if k in self.network.contracts
            )
            earnings = self.earnings(registration.fizz_id, tokens)
        return ChainStatus(
            network=self.network.name,
            chain_id=self.network.chain_id,
            address=Web3.to_checksum_address(address),
            registration=registration,
            rewards=rewards,
            earnings=earnings,
            balances=self.balances(address),
        )

    def resource_ids(self, category: str) -> dict[str, int]:
        """Return the network's resource names and ids for ``category`` (``CPU`` or ``GPU``).

        Ids are probed from 1 upwards until the first missing one, which works on every
        deployment of ResourceRegistry.
        """
        registry = self._contract(f"ResourceRegistry{category.upper()}")
        found: dict[str, int] = {}
        for resource_id in range(1, 512):
            name, _tier, _multiplier, exists = self._read(
                registry.functions.resources(resource_id).call
            )
            if not exists:
                break
            found[str(name)] = resource_id
        return found

    def attributes(self, address: str, category: str) -> list[tuple[int, int]]:
        """Return the approved ``(resource id, units)`` of ``address`` in ``category``."""
        registry = self._contract("FizzAttributeRegistry")
        checksum = Web3.to_checksum_address(address)
        rows = self._read(lambda: registry.functions.getAttributes(checksum, category).call())
        return [(int(i), int(u)) for i, u in rows]

    # ---- Transactions

    def register(
        self,
        signer: Signer,
        *,
        provider_id: int,
        spec: str,
        payment_tokens: Sequence[str],
        reward_wallet: str,
    ) -> tuple[int, SentTx]:
        """Register ``signer``'s wallet as a Fizz node linked to gateway ``provider_id``.

        Returns:
            The new fizz id and the mined transaction.

        Raises:
            ContractRevertError: ``FizzAlreadyRegistered`` and the like, in plain words.
        """
        existing = self.registration(signer.address)
        if existing is not None:
            message, remedy = (
                f"This wallet is already registered as Fizz node {existing.fizz_id}.",
                "Nothing to do: run 'fizz-node status' to see the registration.",
            )
            raise ContractRevertError(message, remedy, DecodedRevert("FizzAlreadyRegistered"))
        params = (
            provider_id,
            spec,
            Web3.to_checksum_address(signer.address),
            [Web3.to_checksum_address(t) for t in payment_tokens],
            Web3.to_checksum_address(reward_wallet),
        )
        registry = self._contract("FizzRegistry")
        sent = self._send(signer, registry.functions.addFizzNode(params), "register")
        # Other contracts' logs in the receipt are not ours to decode: skip them quietly.
        events = registry.events.FizzNodeAdded().process_receipt(sent.receipt, errors=DISCARD)
        fizz_id = int(events[0]["args"]["fizzId"]) if events else 0
        if not fizz_id:
            registration = self.registration(signer.address)
            fizz_id = registration.fizz_id if registration else 0
        log.info("registered as fizz node %d in transaction %s", fizz_id, sent.hash)
        return fizz_id, sent

    def update_spec(self, signer: Signer, spec: str) -> SentTx:
        """Replace the node's registered spec string."""
        fn = self._contract("FizzRegistry").functions.updateFizzSpec(spec)
        return self._send(signer, fn, "update spec")

    def change_gateway(self, signer: Signer, provider_id: int) -> SentTx:
        """Link the node to another gateway (provider id)."""
        fn = self._contract("FizzRegistry").functions.updateFizzProviderId(provider_id)
        return self._send(signer, fn, "change gateway")

    def add_payment_token(self, signer: Signer, token: str) -> SentTx:
        fn = self._contract("FizzRegistry").functions.addAcceptedPayment(
            Web3.to_checksum_address(token)
        )
        return self._send(signer, fn, "add payment token")

    def remove_payment_token(self, signer: Signer, token: str) -> SentTx:
        fn = self._contract("FizzRegistry").functions.removeAcceptedPayment(
            Web3.to_checksum_address(token)
        )
        return self._send(signer, fn, "remove payment token")

    def submit_attributes(
        self, signer: Signer, category: str, ids: Sequence[int], units: Sequence[int]
    ) -> SentTx:
        """Claim resources: ``units`` of each resource id in ``category`` (``CPU``/``GPU``)."""
        if len(ids) != len(units) or not ids:
            raise ValueError("ids and units must be non-empty and of equal length")
        fn = self._contract("FizzAttributeRegistry").functions.submitAttributes(
            category, list(ids), list(units)
        )
        return self._send(signer, fn, f"submit {category} attributes")

    def claim_rewards(self, signer: Signer, *, amount: TokenAmount | None = None) -> SentTx:
        """Claim the node's pending rewards (paid in SPON to its reward wallet). ``amount`` is
        the pending reward just read (``rewards(...).pending``); ``None`` reads it. It is kept
        with the transaction while pending, for :meth:`settle_pending`."""
        address = Web3.to_checksum_address(signer.address)
        manager = self._contract("FizzRewardsManager")
        if amount is None:
            raw = self._read(lambda: int(manager.functions.pendingRewards(address).call()))
            amount = TokenAmount(raw, *self._token_info("RewardToken"))
        note = TransferNote(ActivityKind.CLAIM, amount.raw, amount.symbol, amount.decimals)
        fn = manager.functions.claimRewards(address)
        return self._send(signer, fn, "claim rewards", note)

    def withdraw_earnings(self, signer: Signer, fizz_id: int, token: str, amount: int) -> SentTx:
        """Withdraw ``amount`` (raw units) of lease earnings in ``token`` to the node wallet."""
        address = Web3.to_checksum_address(signer.address)
        decimals, symbol = self._erc20_info(token)
        note = TransferNote(ActivityKind.WITHDRAWAL, amount, symbol, decimals)
        fn = self._contract("EscrowProtocol").functions.withdrawEarnings(
            address, fizz_id, Web3.to_checksum_address(token), amount
        )
        return self._send(signer, fn, "withdraw earnings", note)

    def pending_transactions(self, address: str) -> list[PendingTx]:
        """``address``'s transactions sent and not yet seen mined (claims and withdrawals
        carry a ``TransferNote`` memo). Reads the local store only."""
        return self._tx.remembered(address)

    def settle_pending(self, address: str, also: Sequence[str] = ()) -> Settlement:
        """Find out what became of ``address``'s pending transactions: each mined or dropped
        one is returned once (then forgotten), the rest are broadcast again where the node
        lost them. ``also``: hashes the caller still counts as pending (the ledger's); for
        those another run already settled the outcome comes from the settled log or the
        receipt. Book every outcome: it is not returned again.

        Raises:
            ChainError: the chain could not be read (whatever was settled before stays
                settled; look its hash up again through ``also``).
        """
        return self._read(functools.partial(self._tx.settle, address, also))

    def recheck_pending(self) -> list[str]:
        """Settle transactions remembered from an earlier run; returns one line per outcome."""
        lines = []
        for pending, mined in self._read(self._tx.recheck_pending):
            if mined is None:
                lines.append(f"{pending.action}: transaction {pending.hash} was dropped")
            else:
                verdict = "succeeded" if mined.status == 1 else "failed"
                lines.append(f"{pending.action}: transaction {pending.hash} {verdict}")
        return lines

    # ---- Private API

    def _contract(self, key: str) -> Any:
        # Built once per contract: building one parses its ABI (milliseconds), which a gateway
        # verifying logins would otherwise pay on every read.
        contract = self._contracts.get(key)
        if contract is None:
            address = self.network.address(key)
            contract = self._w3.eth.contract(
                address=Web3.to_checksum_address(address), abi=load_abi(_CONTRACT_ABIS[key])
            )
            self._contracts[key] = contract
        return contract

    def _erc20(self, address: str) -> Any:
        return self._w3.eth.contract(address=Web3.to_checksum_address(address), abi=ERC20_ABI)

    def _erc20_info(self, address: str) -> tuple[int, str]:
        token = self._erc20(address)
        decimals = self._read(lambda: int(token.functions.decimals().call()))
        symbol = self._read(lambda: str(token.functions.symbol().call()))
        return decimals, symbol

    def _token_info(self, key: str) -> tuple[int, str]:
        return self._erc20_info(self.network.address(key))

    def _read(self, call: Callable[[], T]) -> T:
        """Run a read, retrying with backoff while the endpoint refuses connections; a read
        that timed out is not retried (it already waited ``rpc_timeout`` seconds)."""
        delays = list(READ_RETRY_DELAYS)
        while True:
            try:
                return call()
            except Exception as error:
                if _timed_out(error):
                    raise self._silent_endpoint() from None
                problem = self._classify(error)
                if isinstance(problem, RpcUnreachableError) and delays:
                    delay = delays.pop(0)
                    # The error's text holds the request's URL (and any key in it): log its kind.
                    log.warning(
                        "RPC endpoint %s unreachable (%s); retrying in %.1f s",
                        public_url(self.network.rpc_url),
                        type(error).__name__,
                        delay,
                    )
                    self._sleep(delay)
                    continue
                raise problem from None

    def _silent_endpoint(self) -> RpcUnreachableError:
        return RpcUnreachableError(
            f"The {self.network.title} RPC endpoint {public_url(self.network.rpc_url)} did not "
            f"answer within {self._rpc_timeout:g} s.",
            "Check that it is up and reachable from this machine, or set another RPC address "
            "in Settings.",
        )

    def _send(
        self, signer: Signer, call: Any, action: str, note: TransferNote | None = None
    ) -> SentTx:
        if not self._chain_checked:
            self.verify_chain()
        memo = None if note is None else note.to_memo()
        try:
            sent = self._tx.send(signer, call, action, memo=memo)
        except TimeExhausted:
            raise TransactionTimeoutError(
                f"The {action} transaction was sent but not confirmed in time.",
                "It may still go through: the running node books it once it is mined, and "
                "'fizz-node status' says whether it was.",
            ) from None
        except SendUnanswered as unanswered:
            raise TransactionTimeoutError(
                f"The {self.network.title} RPC endpoint {public_url(self.network.rpc_url)} did "
                f"not answer within {self._rpc_timeout:g} s when sent the {action} transaction "
                f"{unanswered.tx_hash}: it may still go through.",
                "Do not send it again yet: the running node books it once the chain has "
                "mined or dropped it, and 'fizz-node status' says which.",
            ) from None
        except Exception as error:
            raise self._classify(error, address=signer.address) from None
        if sent.status != 1:
            raise self._explain_failed(signer, call, sent, action)
        return sent

    def _explain_failed(self, signer: Signer, call: Any, sent: SentTx, action: str) -> ChainError:
        # Replay the call at the block it failed in to learn the revert reason.
        try:
            call.call({"from": signer.address}, block_identifier=sent.block_number)
        except Exception as error:
            return self._classify(error, address=signer.address)
        return ChainError(
            f"The {action} transaction {sent.hash} failed on chain.",
            "Try again; if it keeps failing, report it with the log file.",
        )

    def _classify(self, error: BaseException, *, address: str | None = None) -> ChainError:
        problem = classify(
            error,
            self._decoder,
            network_title=self.network.title,
            rpc_url=public_url(self.network.rpc_url),
            faucet=self.network.faucet if self.network.testnet else None,
            address=address,
        )
        # A library's own text (quoted in some messages) may hold the request URL and its key.
        clean = scrub(problem.message, self.network.rpc_url)
        if clean != problem.message:
            problem.message = clean
            problem.args = (clean,)
        return problem


def _http_provider(url: str, timeout: float) -> HTTPProvider:
    # web3 retries a timed-out request itself, five times: under our own retries a silent
    # endpoint would keep a read waiting for minutes. It may still retry a dropped connection
    # or an HTTP error (a rate limit), which answer quickly.
    return HTTPProvider(
        url,
        request_kwargs={"timeout": timeout},
        exception_retry_configuration=ExceptionRetryConfiguration(
            errors=(ConnectionError, requests.HTTPError)
        ),
    )


def _timed_out(error: BaseException) -> bool:
    """True for a request that got no answer within the HTTP timeout (requests' ``Timeout``
    and its kinds, or the standard ``TimeoutError``)."""
    return isinstance(error, requests.Timeout | TimeoutError)


class AsyncChainClient:
    """:class:`ChainClient` for the engine's event loop: every call runs in a worker thread
    (web3's HTTP provider blocks), so heartbeats and the GUI never wait on the chain."""

    def __init__(self, client: ChainClient) -> None:
        self.client = client

    @property
    def network(self) -> NetworkProfile:
        return self.client.network

    async def verify_chain(self) -> None:
        await asyncio.to_thread(self.client.verify_chain)

    async def status(self, address: str) -> ChainStatus:
        return await asyncio.to_thread(self.client.status, address)

    async def registration(self, address: str) -> FizzRegistration | None:
        return await asyncio.to_thread(self.client.registration, address)

    async def gateway(self, provider_id: int) -> GatewayInfo:
        return await asyncio.to_thread(self.client.gateway, provider_id)

    async def gateways(self, limit: int = 100) -> list[GatewayInfo]:
        return await asyncio.to_thread(self.client.gateways, limit)

    async def balances(self, address: str) -> Balances:
        return await asyncio.to_thread(self.client.balances, address)

    async def is_linked(self, fizz_id: int, provider_id: int) -> bool:
        return await asyncio.to_thread(self.client.is_linked, fizz_id, provider_id)

    async def rewards(self, address: str) -> RewardsStatus:
        return await asyncio.to_thread(self.client.rewards, address)

    async def register(
        self,
        signer: Signer,
        *,
        provider_id: int,
        spec: str,
        payment_tokens: Sequence[str],
        reward_wallet: str,
    ) -> tuple[int, SentTx]:
        return await asyncio.to_thread(
            functools.partial(
                self.client.register,
                signer,
                provider_id=provider_id,
                spec=spec,
                payment_tokens=payment_tokens,
                reward_wallet=reward_wallet,
            )
        )

    async def claim_rewards(self, signer: Signer, *, amount: TokenAmount | None = None) -> SentTx:
        return await asyncio.to_thread(
            functools.partial(self.client.claim_rewards, signer, amount=amount)
        )

    async def withdraw_earnings(
        self, signer: Signer, fizz_id: int, token: str, amount: int
    ) -> SentTx:
        return await asyncio.to_thread(
            self.client.withdraw_earnings, signer, fizz_id, token, amount
        )

    async def recheck_pending(self) -> list[str]:
        return await asyncio.to_thread(self.client.recheck_pending)
