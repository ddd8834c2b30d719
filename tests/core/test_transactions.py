"""Sending transactions when the RPC host stops answering in the middle of a send.

A send that got no answer may have reached the chain: it stays remembered (by the hash of the
signed bytes, known before sending) until a recheck finds it mined, or finds its nonce used by
another transaction. A send the host clearly refused is forgotten at once. Everything is real:
the in-process chain served over HTTP JSON-RPC and a TCP proxy in front of it that, the moment
the wallet has signed, starts accepting connections and never answering (or refusing them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from devnet.chain.tx import send
from fizz_app.core.chain import ChainClient
from fizz_app.core.chain_errors import RpcUnreachableError, TransactionTimeoutError
from fizz_app.core.ledger_types import ActivityKind, TransferNote
from fizz_app.core.networks import load_network
from fizz_app.core.transactions import PendingTxStore, Settlement
from fizz_app.core.wallet import UnlockedWallet
from tests.devnet.gateway_env import SPEC, Chain
from tests.local_network import (
    RPC_PASSWORD,
    RPC_PATH_KEY,
    RPC_QUERY_KEY,
    ProxyMode,
    SwitchableProxy,
)

PASSWORD, PATH_KEY, QUERY_KEY = RPC_PASSWORD, RPC_PATH_KEY, RPC_QUERY_KEY
RPC_TIMEOUT = 1.0
SPON = 10**18


class BreaksAfterSigning:
    """The node's wallet; once it has signed, the RPC host behaves as ``mode`` says (the
    reads before the send went through)."""

    def __init__(self, wallet: UnlockedWallet, proxy: SwitchableProxy, mode: ProxyMode) -> None:
        self.wallet = wallet
        self.proxy = proxy
        self.mode = mode
        self.signed: list[bytes] = []

    @property
    def address(self) -> str:
        return self.wallet.address

    def sign_transaction(self, transaction: dict[str, Any]) -> bytes:
        raw = self.wallet.sign_transaction(transaction)
        self.signed.append(raw)
        self.proxy.switch(self.mode)
        return raw


def _client(chain: Chain, home: Path, proxy: SwitchableProxy) -> ChainClient:
    network = load_network("devnet", chain.home, rpc_url=proxy.url)
    return ChainClient(network, home, rpc_timeout=RPC_TIMEOUT, sleep=lambda _: None)


def _nonce(chain: Chain, wallet: UnlockedWallet) -> int:
    return chain.w3.eth.get_transaction_count(Web3.to_checksum_address(wallet.address))


def _other_use_of_nonce(chain: Chain, wallet: UnlockedWallet, nonce: int) -> None:
    """The same wallet spends ``nonce`` on another transaction (another device, say)."""
    raw = wallet.sign_transaction(
        {
            "to": chain.w3.eth.accounts[0],
            "value": 1,
            "gas": 21_000,
            "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 10**9,
            "nonce": nonce,
            "chainId": chain.w3.eth.chain_id,
        }
    )
    chain.w3.eth.send_raw_transaction(raw)


@pytest.mark.parametrize("fate", ["reached the chain", "nonce used by another", "never arrived"])
def test_a_send_without_answer_stays_pending_until_the_chain_settles_it(
    chain: Chain, proxy: SwitchableProxy, tmp_path: Path, fate: str
) -> None:
    wallet = UnlockedWallet(chain.register())
    client = _client(chain, tmp_path, proxy)
    store = PendingTxStore(tmp_path / "chain" / "devnet-pending.json")
    nonce = _nonce(chain, wallet)
    signer = BreaksAfterSigning(wallet, proxy, ProxyMode.HANG)

    with pytest.raises(TransactionTimeoutError) as caught:
        client.update_spec(signer, SPEC)
    [raw] = signer.signed
    tx_hash = Web3.keccak(raw).to_0x_hex()
    assert proxy.held() >= 1  # the send is still waiting for an answer that never comes
    message = str(caught.value)
    assert f"update spec transaction {tx_hash}" in message
    assert f"did not answer within {RPC_TIMEOUT:g} s" in message
    assert "may still go through" in message
    assert not any(secret in message for secret in (PATH_KEY, QUERY_KEY, PASSWORD)), message
    [pending] = store.load()
    assert (pending.hash, pending.nonce, pending.action) == (tx_hash, nonce, "update spec")
    assert pending.raw == "0x" + raw.hex()

    proxy.switch(ProxyMode.FORWARD)
    if fate == "reached the chain":
        chain.w3.eth.send_raw_transaction(raw)  # what the hung host did pass on
        assert client.recheck_pending() == [f"update spec: transaction {tx_hash} succeeded"]
    elif fate == "nonce used by another":
        _other_use_of_nonce(chain, wallet, nonce)
        assert client.recheck_pending() == [f"update spec: transaction {tx_hash} was dropped"]
    else:
        # The next transaction does not wait behind the lost one: it is broadcast again first,
        # and both are mined in nonce order.
        client.update_spec(wallet, SPEC)
        assert _nonce(chain, wallet) == nonce + 2
        assert client.recheck_pending() == [f"update spec: transaction {tx_hash} succeeded"]
    assert store.load() == []


def test_a_send_the_host_refused_is_forgotten_at_once(
    chain: Chain, proxy: SwitchableProxy, tmp_path: Path
) -> None:
    wallet = UnlockedWallet(chain.register())
    client = _client(chain, tmp_path, proxy)
    nonce = _nonce(chain, wallet)
    signer = BreaksAfterSigning(wallet, proxy, ProxyMode.REFUSE)
    with pytest.raises(RpcUnreachableError):
        client.update_spec(signer, SPEC)
    assert PendingTxStore(tmp_path / "chain" / "devnet-pending.json").load() == []
    proxy.switch(ProxyMode.FORWARD)
    # The next transaction takes the same nonce: nothing was left waiting.
    client.update_spec(wallet, SPEC)
    assert _nonce(chain, wallet) == nonce + 1


def test_settle_reports_each_outcome_once_with_its_note_and_finds_hashes_settled_elsewhere(
    chain: Chain, proxy: SwitchableProxy, tmp_path: Path
) -> None:
    wallet = UnlockedWallet(chain.register())
    other = UnlockedWallet(chain.register())
    manager = chain.deployment.contract(chain.w3, "FizzRewardsManager")
    add = manager.functions.addFizzPendingRewards([wallet.address], [7 * SPON])
    send(chain.w3, add, chain.deployment.admin)
    client = _client(chain, tmp_path, proxy)
    nonce = _nonce(chain, wallet)
    signer = BreaksAfterSigning(wallet, proxy, ProxyMode.HANG)
    with pytest.raises(TransactionTimeoutError):
        client.claim_rewards(signer)  # reads the pending reward itself
    tx_hash = Web3.keccak(signer.signed[0]).to_0x_hex()
    proxy.switch(ProxyMode.FORWARD)

    # What it moves is remembered with it, for the ledger.
    [pending] = client.pending_transactions(wallet.address)
    assert TransferNote.from_memo(pending.memo) == TransferNote(
        ActivityKind.CLAIM, 7 * SPON, "SPON", 18
    )
    # Another wallet's recheck neither reports nor broadcasts it.
    assert client.pending_transactions(other.address) == []
    assert client.settle_pending(other.address) == Settlement((), ())
    assert _nonce(chain, wallet) == nonce
    # Its own: still in flight (the hung host never passed it on), so it is broadcast again...
    first = client.settle_pending(wallet.address)
    assert first.settled == () and [p.hash for p in first.in_flight] == [tx_hash]
    # ...and mined: reported once, with its note, then forgotten.
    [outcome] = client.settle_pending(wallet.address).settled
    assert outcome.hash == tx_hash and outcome.pending is not None
    assert outcome.mined is not None and outcome.mined.status == 1
    assert outcome.pending.memo == pending.memo
    assert client.settle_pending(wallet.address) == Settlement((), ())

    # Hashes a ledger still counts as pending although another run settled them: a dropped one
    # (settled by 'fizz-node status') from the settled log, the mined one from the log too.
    signer = BreaksAfterSigning(wallet, proxy, ProxyMode.HANG)
    with pytest.raises(TransactionTimeoutError):
        client.update_spec(signer, SPEC)
    dropped = Web3.keccak(signer.signed[0]).to_0x_hex()
    proxy.switch(ProxyMode.FORWARD)
    _other_use_of_nonce(chain, wallet, nonce + 1)
    assert client.recheck_pending() == [f"update spec: transaction {dropped} was dropped"]
    unknown = "0x" + "12" * 32
    found = client.settle_pending(wallet.address, [tx_hash.upper().replace("0X", "0x"), dropped])
    by_hash = {o.hash: o for o in found.settled}
    assert set(by_hash) == {tx_hash, dropped} and found.in_flight == ()
    assert by_hash[dropped].mined is None and by_hash[dropped].pending is not None
    assert by_hash[dropped].pending.action == "update spec"
    logged = by_hash[tx_hash]
    assert logged.mined is not None and logged.mined.status == 1
    assert logged.pending is not None and logged.pending.memo == pending.memo
    # Without the log (another data folder): the mined one by its receipt; one the chain has
    # no receipt for is left pending, never guessed dropped (it may be another network's).
    elsewhere = _client(chain, tmp_path / "elsewhere", proxy)
    [by_receipt] = elsewhere.settle_pending(wallet.address, [tx_hash, dropped, unknown]).settled
    assert by_receipt.hash == tx_hash and by_receipt.pending is None
    assert (
        by_receipt.mined is not None and by_receipt.mined.block_number == outcome.mined.block_number
    )
