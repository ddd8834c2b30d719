"""The snapshot's earnings in words: amounts, lifetime totals, claims and withdrawals."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from fizz_app.core.earnings_text import (
    SETTLED_WORDS,
    TransferWatch,
    amount_of,
    grouped,
    lifetime_summary,
    transfer_words,
)
from fizz_app.core.ledger_types import TxStatus, format_units, parse_units

CLAIM_HASH = "0x" + "ab" * 32
WITHDRAWAL_HASH = "0x" + "cd" * 32


def transfer(tx_hash: str, status: str, *, kind: str = "claim") -> dict[str, Any]:
    token, decimals, amount = ("SPON", 18, 7 * 10**18) if kind == "claim" else ("uSPON", 6, 1)
    return {
        "kind": kind,
        "tx_hash": tx_hash,
        "token": token,
        "decimals": decimals,
        "amount": str(amount),
        "status": status,
        "created_at": 1.0,
        "updated_at": 2.0,
    }


def totals(token: str, decimals: int, **fields: int) -> dict[str, Any]:
    names = ("lease_earnings", "rewards", "claimed", "withdrawn")
    return {token: {"decimals": decimals, **{name: str(fields.get(name, 0)) for name in names}}}


def test_amounts_are_whole_tokens_grouped_and_cut_never_rounded_up() -> None:
    assert amount_of("1234567891", 6) == "1,234.567891"
    assert amount_of(10**18, 18) == "1"
    assert amount_of(0, 6) == "0"
    assert amount_of("not digits", 6) == "?"
    assert amount_of(1_999_999, 6, places=2) == "1.99"
    assert grouped(Decimal("-0")) == "0"


@given(st.integers(min_value=0, max_value=2**256 - 1), st.integers(min_value=0, max_value=36))
def test_an_amount_in_words_reads_back_to_its_base_units(raw: int, decimals: int) -> None:
    # Any uint256 of base units, never rounded (Decimal's default precision is 28 digits).
    text = amount_of(raw, decimals).replace(",", "")
    whole, _, fraction = text.partition(".")
    assert len(fraction) <= decimals
    assert int(whole + fraction.ljust(decimals, "0")) == raw
    assert parse_units(format_units(raw, decimals), decimals) == raw


def test_transfer_words_name_kind_amount_token_and_transaction() -> None:
    assert transfer_words(transfer(CLAIM_HASH, "pending")) == (
        f"Claim of 7 SPON (transaction {CLAIM_HASH})"
    )
    withdrawal = transfer(WITHDRAWAL_HASH, "confirmed", kind="withdrawal")
    assert (
        transfer_words(withdrawal)
        == f"Withdrawal of 0.000001 uSPON (transaction {WITHDRAWAL_HASH})"
    )


def test_lifetime_summary_lists_what_was_earned_withdrawn_and_claimed() -> None:
    assert lifetime_summary(None) == "0 uSPON earned from leases"
    assert lifetime_summary({"lifetime": totals("uSPON", 6)}) == "0 uSPON earned from leases"
    earnings = {
        "lifetime": {
            **totals("uSPON", 6, lease_earnings=2_500_000, withdrawn=1_000_000),
            **totals("SPON", 18, rewards=3 * 10**18),
        }
    }
    assert lifetime_summary(earnings) == (
        "3 SPON in era rewards, 2.5 uSPON earned from leases (1 withdrawn)"
    )
    earnings["lifetime"].update(totals("SPON", 18, rewards=3 * 10**18, claimed=3 * 10**18))
    assert lifetime_summary(earnings).startswith("3 SPON in era rewards (3 claimed), ")


def test_transfer_watch_tells_each_pending_transfer_once_and_each_settlement_once() -> None:
    watch = TransferWatch()
    first = watch.update({"transfers": [transfer(CLAIM_HASH, "pending")]})
    assert [t["tx_hash"] for t in first.pending] == [CLAIM_HASH] and first.settled == []
    again = watch.update({"transfers": [transfer(CLAIM_HASH, "pending")]})
    assert again.pending == [] and again.settled == []
    settled = watch.update(
        {
            "transfers": [
                transfer(WITHDRAWAL_HASH, "dropped", kind="withdrawal"),  # never seen pending
                transfer(CLAIM_HASH, "confirmed"),
            ]
        }
    )
    assert settled.pending == []
    assert [(t["tx_hash"], t["status"]) for t in settled.settled] == [(CLAIM_HASH, "confirmed")]
    assert watch.update({"transfers": [transfer(CLAIM_HASH, "confirmed")]}).settled == []
    assert watch.update(None).pending == []
    assert set(SETTLED_WORDS) == {status.value for status in TxStatus} - {"pending"}
