"""A claim whose send got no answer: the engine books it as pending at once, and its chain watch
settles it in the ledger (confirmed or dropped) without anyone asking, counting it once.

Everything is real: the in-process chain served over HTTP JSON-RPC, the reference gateway on
its own thread, the engine with a keystore wallet. The RPC host takes the node's claim and
answers only after the node gave up waiting (:class:`LosesTheAnswer`): it either passed the
transaction on to the chain, or never did while another transaction of the same wallet took
its nonce. How one recheck is booked (which rows settle, which are booked from the note kept
with the transaction) is tested on its own last.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from devnet.chain.tx import send
from fizz_app.core.chain import ChainClient
from fizz_app.core.chain_errors import TransactionTimeoutError
from fizz_app.core.events import EarningsChanged, Event, Subscription
from fizz_app.core.ledger import EarningsLedger
from fizz_app.core.ledger_types import ActivityKind, TransferNote, TxStatus
from fizz_app.core.networks import load_network
from fizz_app.core.node import Node
from fizz_app.core.node_account import _book_settlement
from fizz_app.core.state import NodeStatus
from fizz_app.core.transactions import PendingTx, SentTx, Settlement, TxOutcome
from fizz_app.core.wallet import UnlockedWallet, WalletManager
from tests.devnet.gateway_env import Chain
from tests.local_network import (
    PASSPHRASE,
    BackgroundGateway,
    RpcServer,
    proxied_chain,
    registered_node_parts,
    thread_safe_chain,
    until,
)

SPON = 10**18
RPC_TIMEOUT = 1.0
CHAIN_EVERY = 0.5
"""No lease runs here: a chain check every 2.5 s (sooner after a failed one)."""


class LosesTheAnswer:
    """The chain's side of an :class:`RpcServer` (it only calls ``manager.request_blocking``):
    every request goes through, except the first ``eth_sendRawTransaction`` after
    :meth:`arm`, which is answered only after the client's timeout. With ``reaches_chain``
    the chain got it first (it is mined); without, it never does, and the same wallet spends
    its nonce on another transaction meanwhile (it is dropped)."""

    def __init__(self, w3: Web3) -> None:
        self.manager = self
        self._w3 = w3
        self._armed: tuple[bool, UnlockedWallet | None] | None = None
        self.lost: list[str] = []
        """Hashes of the transactions whose answer was lost."""

    def arm(self, *, reaches_chain: bool, wallet: UnlockedWallet | None = None) -> None:
        self._armed = (reaches_chain, wallet)

    def request_blocking(self, method: str, params: Any, *args: Any, **kwargs: Any) -> Any:
        if method != "eth_sendRawTransaction" or self._armed is None:
            return self._w3.manager.request_blocking(method, params, *args, **kwargs)
        (reaches_chain, wallet), self._armed = self._armed, None
        raw = bytes.fromhex(str(params[0]).removeprefix("0x"))
        self.lost.append(Web3.keccak(raw).to_0x_hex())
        if reaches_chain:
            answer = self._w3.manager.request_blocking(method, params, *args, **kwargs)
        else:
            assert wallet is not None
            self._spend_nonce(wallet)
            answer = Web3.keccak(raw)
        time.sleep(RPC_TIMEOUT + 0.5)  # the node has stopped waiting: the answer is lost
        return answer

    def _spend_nonce(self, wallet: UnlockedWallet) -> None:
        """The wallet's next nonce goes to a plain payment (sent from another device, say)."""
        w3 = self._w3
        sender = Web3.to_checksum_address(wallet.address)
        raw = wallet.sign_transaction(
            {
                "to": w3.eth.accounts[0],
                "value": 1,
                "gas": 21_000,
                "maxFeePerGas": 10**10,
                "maxPriorityFeePerGas": 10**9,
                "nonce": w3.eth.get_transaction_count(sender),
                "chainId": w3.eth.chain_id,
            }
        )
        w3.eth.send_raw_transaction(raw)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    return thread_safe_chain(tmp_path_factory.mktemp("chain"))


@pytest.fixture(scope="module")
def host(chain: Chain) -> LosesTheAnswer:
    return LosesTheAnswer(chain.w3)


@pytest.fixture(scope="module")
def rpc(host: LosesTheAnswer) -> Iterator[RpcServer]:
    with RpcServer(host) as server:  # type: ignore[arg-type]  # it only needs the manager
        yield server


@pytest.fixture
def gateway(chain: Chain, tmp_path: Path) -> Iterator[BackgroundGateway]:
    with BackgroundGateway(chain, tmp_path) as running:
        yield running


def earnings_of(node: Node) -> dict[str, Any]:
    return node.snapshot().earnings or {}


def pending_reward(node: Node) -> str | None:
    return ((earnings_of(node).get("rewards") or {}).get("pending") or {}).get("raw")


def spon(earnings: dict[str, Any]) -> dict[str, str]:
    return dict(earnings.get("lifetime", {}).get("SPON", {}))


def transfer_status(earnings: dict[str, Any], tx_hash: str) -> str | None:
    found = [t for t in earnings.get("transfers", []) if t["tx_hash"] == tx_hash]
    return found[0]["status"] if found else None


class Online:
    def __init__(self, address: str, node: Node, events: Subscription, home: Path) -> None:
        self.address = address
        self.node = node
        self.events = events
        self.home = home
        self.wallet = WalletManager(home, None, scrypt_n=16).unlock(PASSPHRASE)


def node_kwargs(chain: Chain, rpc: RpcServer, home: Path) -> tuple[str, dict[str, Any]]:
    """A registered node in ``home`` whose chain client goes through ``rpc``, with 7 SPON of
    era rewards to claim."""
    address, kwargs = registered_node_parts(chain, home)
    kwargs.update(
        chain=proxied_chain(chain, home, rpc.url, rpc_timeout=RPC_TIMEOUT),
        chain_every=CHAIN_EVERY,
        chain_retry=0.1,
    )
    manager = chain.deployment.contract(chain.w3, "FizzRewardsManager")
    add = manager.functions.addFizzPendingRewards([address], [7 * SPON])
    send(chain.w3, add, chain.deployment.admin)
    return address, kwargs


@pytest.fixture
async def online(
    chain: Chain, rpc: RpcServer, gateway: BackgroundGateway, tmp_path: Path
) -> AsyncIterator[Online]:
    home = tmp_path / "node"
    address, kwargs = await asyncio.to_thread(node_kwargs, chain, rpc, home)
    node = Node(**kwargs)
    async with node, node.subscribe() as events:
        await node.start()
        await until(lambda: node.snapshot().status is NodeStatus.ONLINE, what="online")
        await until(lambda: pending_reward(node) == str(7 * SPON), what="rewards read")
        yield Online(address, node, events, home)


def settled_events(events: list[Event], tx_hash: str) -> list[dict[str, Any]]:
    """The EarningsChanged events that showed ``tx_hash`` no longer pending for the first
    time, or again in another final state."""
    shown: list[dict[str, Any]] = []
    before: str | None = None
    for event in events:
        if isinstance(event, EarningsChanged):
            status = transfer_status(event.earnings, tx_hash)
            if status != before and status not in (None, "pending"):
                shown.append(event.earnings)
            before = status
    return shown


async def claim_with_lost_answer(online: Online, host: LosesTheAnswer) -> str:
    """Claim; the answer to the send is lost. Returns the claim's hash, shown as pending."""
    with pytest.raises(TransactionTimeoutError, match="may still go through"):
        await online.node.claim_rewards()
    [tx_hash] = host.lost
    host.lost.clear()
    earnings = earnings_of(online.node)
    [shown] = [t for t in earnings["transfers"] if t["tx_hash"] == tx_hash]
    assert (shown["kind"], shown["status"]) == ("claim", "pending")
    assert (shown["amount"], shown["token"]) == (str(7 * SPON), "SPON")
    assert spon(earnings)["claimed"] == "0"  # not counted while the chain has not settled it
    return tx_hash


async def test_a_claim_whose_answer_was_lost_is_confirmed_by_the_next_chain_check(
    online: Online, host: LosesTheAnswer
) -> None:
    node = online.node
    online.events.drain()
    host.arm(reaches_chain=True)
    tx_hash = await claim_with_lost_answer(online, host)

    await until(lambda: transfer_status(earnings_of(node), tx_hash) == "confirmed", what="settled")
    earnings = earnings_of(node)
    assert spon(earnings)["claimed"] == str(7 * SPON)
    assert spon(earnings)["rewards"] == str(7 * SPON)  # the claim moves rewards, adds none
    # A few more checks: nothing is counted again.
    checked = (node.snapshot().chain or {}).get("checked_at")
    await until(lambda: (node.snapshot().chain or {}).get("checked_at") != checked, what="check")
    await until(lambda: pending_reward(node) == "0", what="rewards read after the claim")
    assert spon(earnings_of(node))["claimed"] == str(7 * SPON)

    [confirmed] = settled_events(online.events.drain(), tx_hash)
    assert spon(confirmed)["claimed"] == str(7 * SPON)
    with EarningsLedger(online.home / "ledger.sqlite3") as ledger:
        [claim] = ledger.transfers()
        assert (claim.kind, claim.tx_hash, claim.status) == (
            ActivityKind.CLAIM,
            tx_hash,
            TxStatus.CONFIRMED,
        )
        assert claim.amount == 7 * SPON and ledger.lifetime()["SPON"].claimed == 7 * SPON
        assert all(era.claimed for era in ledger.era_rewards())


async def test_a_claim_whose_answer_was_lost_and_whose_nonce_went_elsewhere_is_dropped(
    online: Online, host: LosesTheAnswer
) -> None:
    node = online.node
    online.events.drain()
    host.arm(reaches_chain=False, wallet=online.wallet)
    tx_hash = await claim_with_lost_answer(online, host)

    await until(lambda: transfer_status(earnings_of(node), tx_hash) == "dropped", what="settled")
    [dropped] = settled_events(online.events.drain(), tx_hash)
    for earnings in (dropped, earnings_of(node)):
        assert spon(earnings)["claimed"] == "0"
        assert spon(earnings)["rewards"] == str(7 * SPON)
    assert pending_reward(node) == str(7 * SPON)  # still there to claim
    with EarningsLedger(online.home / "ledger.sqlite3") as ledger:
        [claim] = ledger.transfers()
        assert (claim.tx_hash, claim.status) == (tx_hash, TxStatus.DROPPED)
        assert ledger.lifetime()["SPON"].claimed == 0
        assert not any(era.claimed for era in ledger.era_rewards())


async def test_a_claim_an_earlier_run_never_booked_is_settled_by_the_first_check_online(
    chain: Chain, rpc: RpcServer, host: LosesTheAnswer, gateway: BackgroundGateway, tmp_path: Path
) -> None:
    home = tmp_path / "node"
    _, kwargs = await asyncio.to_thread(node_kwargs, chain, rpc, home)
    # The app claimed, got no answer and quit (or crashed) before booking anything.
    client = ChainClient(
        load_network("devnet", chain.home, rpc_url=rpc.url), home, rpc_timeout=RPC_TIMEOUT
    )
    wallet = WalletManager(home, None, scrypt_n=16).unlock(PASSPHRASE)
    host.arm(reaches_chain=True)
    with pytest.raises(TransactionTimeoutError):
        await asyncio.to_thread(client.claim_rewards, wallet)
    [tx_hash] = host.lost
    host.lost.clear()
    [pending] = client.pending_transactions(wallet.address)

    node = Node(**kwargs)
    async with node, node.subscribe() as events:
        await node.start()
        await until(lambda: (node.snapshot().chain or {}).get("reachable"), what="a first check")
        # The first check after going online booked it from what was kept with it.
        earnings = earnings_of(node)
        assert transfer_status(earnings, tx_hash) == "confirmed"
        assert spon(earnings)["claimed"] == str(7 * SPON)
        [confirmed] = settled_events(events.drain(), tx_hash)
        assert spon(confirmed)["claimed"] == str(7 * SPON)
    assert client.pending_transactions(wallet.address) == []
    with EarningsLedger(home / "ledger.sqlite3") as ledger:
        [claim] = ledger.transfers()
        assert (claim.tx_hash, claim.status, claim.amount) == (
            tx_hash,
            TxStatus.CONFIRMED,
            7 * SPON,
        )
        assert claim.created_at == pending.sent_at  # when it was sent, not when it was found


async def test_a_pending_claim_that_fizz_node_status_settled_meanwhile_is_booked_after_a_restart(
    chain: Chain, rpc: RpcServer, host: LosesTheAnswer, gateway: BackgroundGateway, tmp_path: Path
) -> None:
    home = tmp_path / "node"
    _, kwargs = await asyncio.to_thread(node_kwargs, chain, rpc, home)
    kwargs["chain_every"] = 1000.0  # one chain check per run: the one when going online

    def checked(node: Node) -> bool:
        return bool((node.snapshot().chain or {}).get("reachable"))

    async with Node(**kwargs) as node:
        await node.start()
        await until(lambda: checked(node), what="the first check")
        host.arm(reaches_chain=True)
        with pytest.raises(TransactionTimeoutError):
            await node.claim_rewards()
        [tx_hash] = host.lost
        host.lost.clear()
        assert transfer_status(earnings_of(node), tx_hash) == "pending"
    # The app has quit; 'fizz-node status' settles the claim (and does not book it).
    client = ChainClient(
        load_network("devnet", chain.home, rpc_url=rpc.url), home, rpc_timeout=RPC_TIMEOUT
    )
    lines = await asyncio.to_thread(client.recheck_pending)
    assert lines == [f"claim rewards: transaction {tx_hash} succeeded"]

    async with Node(**kwargs) as node:
        assert transfer_status(earnings_of(node), tx_hash) in (None, "pending")
        await node.start()
        await until(lambda: checked(node), what="the first check")
        earnings = earnings_of(node)
        assert transfer_status(earnings, tx_hash) == "confirmed"
        assert spon(earnings)["claimed"] == str(7 * SPON)


def test_booking_a_recheck_settles_known_rows_and_books_the_others_from_their_notes(
    tmp_path: Path,
) -> None:
    withdrawal = TransferNote(ActivityKind.WITHDRAWAL, 4 * 10**6, "uSPON", 6).to_memo()
    claim = TransferNote(ActivityKind.CLAIM, 7 * SPON, "SPON", 18).to_memo()

    def sent(tx_hash: str, memo: dict[str, str], action: str = "withdraw earnings") -> PendingTx:
        return PendingTx(tx_hash, 1, "0xabc", action, 1_000.0, "", memo)

    def mined(tx_hash: str, status: int) -> SentTx:
        return SentTx(tx_hash, 9, 50_000, status, None)

    a, b, c, d = ("0x" + digit * 64 for digit in "abcd")
    with EarningsLedger(tmp_path / "ledger.sqlite3", clock=lambda: 2_000.0) as ledger:
        _book_settlement(ledger, Settlement((), (sent(a, withdrawal), sent(d, {}, "register"))))
        assert [(t.tx_hash, t.status, t.created_at) for t in ledger.transfers()] == [
            (a, TxStatus.PENDING, 1_000.0)
        ]
        _book_settlement(
            ledger,
            Settlement(
                (
                    TxOutcome(a, mined(a, 0), sent(a, withdrawal)),  # reverted
                    TxOutcome(b, None, sent(b, claim, "claim rewards")),  # never booked: dropped
                    TxOutcome(c, mined(c, 1), None),  # unknown here: nothing to book
                    TxOutcome(d, mined(d, 1), sent(d, {}, "register")),  # not a transfer
                ),
                (),
            ),
        )
        statuses = {t.tx_hash: (t.kind, t.status) for t in ledger.transfers()}
        assert statuses == {
            a: (ActivityKind.WITHDRAWAL, TxStatus.FAILED),
            b: (ActivityKind.CLAIM, TxStatus.DROPPED),
        }
        assert ledger.lifetime() == {}  # nothing confirmed, nothing counted
