"""The earnings ledger: idempotent booking across re-delivery and restarts, calendar totals in a
time zone across a daylight-saving change, the CSV export, and reconciliation with the real
contracts on the in-process chain."""

from __future__ import annotations

import csv
import io
import logging
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import EthereumTesterProvider, Web3
from web3.logs import DISCARD

from devnet.chain.accounts import gateway_account
from devnet.chain.deploy import Deployment, deploy_all
from devnet.chain.faucet import fund
from devnet.chain.tx import send, send_signed
from fizz_app.core.chain import ChainClient, RewardsStatus, TokenAmount
from fizz_app.core.ledger import EarningsLedger, LedgerError
from fizz_app.core.ledger_types import (
    ActivityKind,
    ChainEarnings,
    Period,
    PeriodTotal,
    TransferNote,
    TxStatus,
    format_units,
    parse_units,
)
from fizz_app.core.networks import load_network
from fizz_app.core.wallet import UnlockedWallet

USPON = 10**6
SPON = 10**18
BERLIN = ZoneInfo("Europe/Berlin")
HASH_A = "0x" + "ab" * 32
HASH_B = "0x" + "cd" * 32


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(tmp_path: Path, clock: Clock) -> Iterator[EarningsLedger]:
    with EarningsLedger(tmp_path / "ledger.sqlite3", clock=clock) as book:
        yield book


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()


def rewards(era: int, accumulated: int, pending: int, per_era: int = 10 * SPON) -> RewardsStatus:
    spon = (18, "SPON")
    return RewardsStatus(
        current_era=era,
        pending=TokenAmount(pending, *spon),
        accumulated=TokenAmount(accumulated, *spon),
        per_era=TokenAmount(per_era, *spon),
        last_claimed_era=0,
        denied=False,
        paused=False,
    )


# ---- Lease earnings: cumulative notices ----------------------------------------------------------


def test_redelivered_notices_count_once_across_a_restart(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "data" / "ledger.sqlite3"
    with EarningsLedger(path, clock=clock) as ledger:
        assert ledger.record_lease_earnings("lease-1", "0.5", "uSPON") == 500_000
        assert ledger.record_lease_earnings("lease-1", "0.5", "uSPON") == 0
        clock.now += 60
        assert ledger.record_lease_earnings("lease-1", "1.25", "uspon") == 750_000
        assert ledger.record_lease_earnings("lease-2", "3", "uSPON") == 3 * USPON
    # A reconnect after a restart re-sends what the gateway already sent.
    with EarningsLedger(path, clock=clock) as ledger:
        assert ledger.record_lease_earnings("lease-1", "1.25", "uSPON") == 0
        assert ledger.record_lease_earnings("lease-2", "3.000000", "uSPON") == 0
        assert ledger.lifetime()["uSPON"].lease_earnings == 4_250_000
        first, second = ledger.lease_earnings()
        assert (first.lease_id, first.amount, first.value) == (
            "lease-1",
            1_250_000,
            Decimal("1.25"),
        )
        assert (first.first_at, first.updated_at) == (clock.now - 60, clock.now)
        assert (second.lease_id, second.amount) == ("lease-2", 3 * USPON)
        increments = [a.amount for a in ledger.activity() if a.lease_id == "lease-1"]
        assert increments == [750_000, 500_000]
        assert path.with_name("ledger.sqlite3-wal").exists()


def test_a_notice_that_goes_backwards_is_ignored_and_logged(
    ledger: EarningsLedger, caplog: pytest.LogCaptureFixture
) -> None:
    ledger.record_lease_earnings("lease-1", "2", "uSPON")
    with caplog.at_level(logging.WARNING, logger="fizz_app.core.ledger"):
        assert ledger.record_lease_earnings("lease-1", "1.5", "uSPON") == 0
    assert "ignored earnings notice for lease lease-1" in caplog.text
    assert ledger.lease_earnings("lease-1")[0].amount == 2 * USPON


def test_bad_notices_are_refused_with_the_problem_named(tmp_path: Path) -> None:
    with EarningsLedger(tmp_path / "l.db", token_decimals={"USDT": 6}) as ledger:
        with pytest.raises(ValueError, match="unknown token 'DAI': pass its decimals"):
            ledger.record_lease_earnings("l", "1", "DAI")
        with pytest.raises(ValueError, match="more than 6 decimal places"):
            ledger.record_lease_earnings("l", "0.0000001", "uSPON")
        with pytest.raises(ValueError, match="at least 0"):
            ledger.record_lease_earnings("l", "-1", "uSPON")
        with pytest.raises(ValueError, match="not a decimal number"):
            ledger.record_lease_earnings("l", "1e", "uSPON")
        assert ledger.record_lease_earnings("l", "2.5", "usdt") == 2_500_000
        assert list(ledger.lifetime()) == ["USDT"]


def test_exact_token_maths() -> None:
    assert parse_units("0.125", 6) == 125_000
    assert parse_units("123456789.123456789123456789", 18) == 123456789123456789123456789
    assert format_units(123456789123456789123456789, 18) == "123456789.123456789123456789"
    assert (format_units(0, 6), format_units(40 * USPON, 6), format_units(1, 6)) == (
        "0",
        "40",
        "0.000001",
    )


@settings(max_examples=40, deadline=None)
@given(
    notices=st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 10**15)), max_size=25
    ),
    data=st.data(),
)
def test_any_order_and_duplication_of_notices_books_the_max_per_lease(
    notices: list[tuple[str, int]], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(notices))
    repeats = data.draw(st.lists(st.sampled_from(notices), max_size=10)) if notices else []
    expected: dict[str, int] = {}
    for lease, amount in notices:
        expected[lease] = max(expected.get(lease, 0), amount)
    with tempfile.TemporaryDirectory() as folder:
        for order in (notices, shuffled + repeats):
            with EarningsLedger(Path(folder) / f"{id(order)}.db") as ledger:
                for lease, amount in order:
                    ledger.record_lease_earnings(lease, format_units(amount, 6), "uSPON")
                booked = {e.lease_id: e.amount for e in ledger.lease_earnings()}
                assert booked == {lease: n for lease, n in expected.items() if n > 0}
                total = ledger.lifetime().get("uSPON")
                assert (total.lease_earnings if total else 0) == sum(expected.values())
                days = ledger.totals(Period.DAY)
                assert sum(t.lease_earnings for t in days) == sum(expected.values())


def test_concurrent_writers_lose_nothing(ledger: EarningsLedger) -> None:
    def feed(lease: str) -> None:
        for step in range(1, 41):
            ledger.record_lease_earnings(lease, str(step), "uSPON")

    threads = [threading.Thread(target=feed, args=(f"lease-{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ledger.lifetime()["uSPON"].lease_earnings == 6 * 40 * USPON
    assert len(ledger.activity(limit=None)) == 6 * 40


# ---- Calendar totals ----------------------------------------------------------------------------


def test_totals_by_day_week_and_month_follow_the_local_calendar_across_dst(
    ledger: EarningsLedger,
) -> None:
    # Berlin moves to summer time at 2024-03-31 02:00 (that day lasts 23 hours);
    # 2024-04-01 is a Monday, so it starts a new week and a new month.
    ledger.record_lease_earnings("a", "1", "uSPON", at=utc(2024, 3, 30, 22, 30))  # 23:30 CET
    ledger.record_lease_earnings("b", "2", "uSPON", at=utc(2024, 3, 30, 23, 30))  # 00:30 CET
    ledger.record_lease_earnings("c", "4", "uSPON", at=utc(2024, 3, 31, 21, 30))  # 23:30 CEST
    ledger.record_lease_earnings("d", "8", "uSPON", at=utc(2024, 3, 31, 22, 30))  # 00:30 CEST
    ledger.record_rewards(rewards(5, 3 * SPON, 3 * SPON), at=utc(2024, 3, 31, 1, 30))

    def lease(period: Period, tz: ZoneInfo | None = None) -> list[tuple[date, int]]:
        totals = ledger.totals(period, tz) if tz else ledger.totals(period)
        return [(t.start, t.lease_earnings // USPON) for t in totals if t.token == "uSPON"]

    assert lease(Period.DAY, BERLIN) == [
        (date(2024, 3, 30), 1),
        (date(2024, 3, 31), 6),
        (date(2024, 4, 1), 8),
    ]
    assert lease(Period.DAY) == [(date(2024, 3, 30), 3), (date(2024, 3, 31), 12)]
    assert lease(Period.WEEK, BERLIN) == [(date(2024, 3, 25), 7), (date(2024, 4, 1), 8)]
    assert lease(Period.WEEK) == [(date(2024, 3, 25), 15)]
    assert lease(Period.MONTH, BERLIN) == [(date(2024, 3, 1), 7), (date(2024, 4, 1), 8)]
    assert lease(Period.MONTH) == [(date(2024, 3, 1), 15)]
    spon = [t for t in ledger.totals(Period.MONTH, BERLIN) if t.token == "SPON"]
    assert spon == [PeriodTotal(date(2024, 3, 1), "SPON", 18, 0, 3 * SPON)]


# ---- Rewards, claims, withdrawals, uptime, usage ------------------------------------------------


def test_era_rewards_claims_and_withdrawals(ledger: EarningsLedger, clock: Clock) -> None:
    assert ledger.record_rewards(rewards(7, 10 * SPON, 10 * SPON)) == 10 * SPON
    assert ledger.record_rewards(rewards(7, 10 * SPON, 10 * SPON)) == 0
    clock.now += 86_400
    assert ledger.record_rewards(rewards(8, 25 * SPON, 25 * SPON, per_era=15 * SPON)) == 15 * SPON
    era8, era7 = ledger.era_rewards()
    assert (era8.era, era8.points, era8.credited, era8.claimed) == (8, 15 * SPON, 15 * SPON, False)
    assert (era7.era, era7.points, era7.credited, era7.claimed) == (7, 10 * SPON, 10 * SPON, False)

    pending = ledger.record_claim(HASH_A.upper().replace("0X", "0x"), 25 * SPON)
    assert pending.status is TxStatus.PENDING and pending.tx_hash == HASH_A
    assert ledger.lifetime()["SPON"].claimed == 0  # not counted until mined
    assert ledger.record_claim(HASH_A, 25 * SPON).status is TxStatus.PENDING  # no duplicate
    assert ledger.set_tx_status(HASH_A, TxStatus.from_receipt(1)).status is TxStatus.CONFIRMED
    assert ledger.set_tx_status(HASH_A, TxStatus.FAILED).status is TxStatus.CONFIRMED  # final
    assert all(era.claimed for era in ledger.era_rewards())
    with pytest.raises(ValueError, match="already booked as a claim"):
        ledger.record_withdrawal(HASH_A, 1)
    with pytest.raises(KeyError):
        ledger.set_tx_status(HASH_B, TxStatus.CONFIRMED)

    ledger.record_withdrawal(HASH_B, 4 * USPON, status=TxStatus.from_receipt(0))
    ledger.record_withdrawal("0x" + "ef" * 32, 3 * USPON, status=TxStatus.CONFIRMED)
    lifetime = ledger.lifetime()
    assert (lifetime["SPON"].rewards, lifetime["SPON"].claimed) == (25 * SPON, 25 * SPON)
    assert lifetime["uSPON"].withdrawn == 3 * USPON
    assert [t.kind for t in ledger.transfers()] == [
        ActivityKind.WITHDRAWAL,
        ActivityKind.WITHDRAWAL,
        ActivityKind.CLAIM,
    ]
    # A later poll with nothing pending also settles eras claimed elsewhere (the dashboard).
    clock.now += 86_400
    ledger.record_rewards(rewards(9, 30 * SPON, 5 * SPON))
    assert not ledger.era_rewards()[0].claimed
    ledger.record_rewards(rewards(9, 30 * SPON, 0))
    assert ledger.era_rewards()[0].claimed


def test_a_pending_transfer_settles_once_and_counts_only_when_confirmed(
    ledger: EarningsLedger, clock: Clock
) -> None:
    ledger.record_rewards(rewards(7, 10 * SPON, 10 * SPON))
    sent_at = clock.now - 30
    claim = ledger.record_claim(HASH_A, 10 * SPON, status=TxStatus.PENDING, at=sent_at)
    withdrawal = ledger.record_withdrawal(HASH_B, 4 * USPON)
    assert (claim.created_at, withdrawal.created_at) == (sent_at, clock.now)
    assert [t.tx_hash for t in ledger.unsettled_transfers()] == [HASH_A, HASH_B]  # oldest first
    assert ledger.lifetime()["SPON"].claimed == 0
    assert "uSPON" not in ledger.lifetime()  # a pending withdrawal moved nothing yet

    # Settled by a recheck, then booked again by the intent that sent it (or a second
    # recheck): the amount counts once.
    clock.now += 60
    confirmed = ledger.set_tx_status(HASH_A, TxStatus.CONFIRMED)
    assert (confirmed.status, confirmed.updated_at) == (TxStatus.CONFIRMED, clock.now)
    ledger.record_claim(HASH_A, 10 * SPON, status=TxStatus.CONFIRMED)
    ledger.set_tx_status(HASH_A, TxStatus.CONFIRMED)
    assert ledger.lifetime()["SPON"].claimed == 10 * SPON
    assert ledger.era_rewards()[0].claimed

    dropped = ledger.set_tx_status(HASH_B, TxStatus.DROPPED)
    assert dropped.status is TxStatus.DROPPED
    assert ledger.set_tx_status(HASH_B, TxStatus.CONFIRMED).status is TxStatus.DROPPED  # final
    assert "uSPON" not in ledger.lifetime()
    assert ledger.unsettled_transfers() == []
    assert [t.status for t in ledger.transfers()] == [TxStatus.DROPPED, TxStatus.CONFIRMED]
    assert [t.tx_hash for t in ledger.transfers(limit=1)] == [HASH_B]
    assert dropped.to_dict() == {
        "kind": "withdrawal",
        "tx_hash": HASH_B,
        "token": "uSPON",
        "decimals": 6,
        "amount": str(4 * USPON),
        "status": "dropped",
        "created_at": withdrawal.created_at,
        "updated_at": clock.now,
    }


def test_transfer_notes_round_trip_and_ignore_other_memos() -> None:
    note = TransferNote(ActivityKind.WITHDRAWAL, 4 * USPON, "uSPON", 6)
    assert TransferNote.from_memo(note.to_memo()) == note
    assert TransferNote.from_memo({}) is None  # a registration step
    assert TransferNote.from_memo({**note.to_memo(), "transfer": "reward"}) is None
    assert TransferNote.from_memo({**note.to_memo(), "amount": "lots"}) is None


def test_uptime_spans_merge_and_split_by_era(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    day = 86_400.0
    with EarningsLedger(path) as ledger:
        # A session from 22:00 of era 10 reported every tick with a growing end.
        start = 10 * day + 22 * 3600
        for end in (start + 600, start + 3600, start + 3 * 3600):
            ledger.record_online(start, end)
        with pytest.raises(ValueError, match="ends .* before it starts"):
            ledger.record_online(5.0, 4.0)
    with EarningsLedger(path) as ledger:
        ledger.record_online(start, start + 3 * 3600)  # re-reported after a restart
        ledger.record_online(start + 3600, start + 2 * 3600)  # inside
        ledger.record_online(11 * day + 5 * 3600, 11 * day + 6 * 3600)  # a second session
        assert ledger.uptime_by_era() == {10: 2 * 3600.0, 11: 2 * 3600.0}
        # Devnet-style eras: 120 s from a genesis.
        assert ledger.uptime_by_era(era_seconds=43_200, genesis=0) == {21: 7200.0, 22: 7200.0}


def test_usage_keeps_the_latest_and_a_sampled_history(ledger: EarningsLedger) -> None:
    assert ledger.record_usage("l", 1.5, 100, 10, 20, at=1000.0)
    assert ledger.record_usage("l", 3.0, 150, 30, 40, at=1100.0)
    assert not ledger.record_usage("l", 2.0, 120, 20, 30, at=1050.0)  # stale, re-delivered
    assert ledger.record_usage("l", 9.0, 150, 90, 99, at=1400.0)
    latest = ledger.usage("l")
    assert latest is not None and (latest.cpu_seconds, latest.at) == (9.0, 1400.0)
    assert [s.at for s in ledger.usage_history("l")] == [1000.0, 1400.0]
    assert ledger.usage("other") is None


# ---- CSV export --------------------------------------------------------------------------------


def test_csv_export_is_exact_atomic_and_spreadsheet_safe(tmp_path: Path, clock: Clock) -> None:
    with EarningsLedger(tmp_path / "l.db", clock=clock, token_decimals={"@evil": 2}) as ledger:
        clock.now = utc(2024, 3, 31, 0, 30)
        ledger.record_lease_earnings("lease-1", "0.125", "uSPON")
        ledger.record_lease_earnings('=HYPERLINK("http://x","y")', "1", "uSPON")
        ledger.record_lease_earnings("+cmd", "0.5", "@evil")
        ledger.record_rewards(rewards(3, 7 * SPON + 1, 7 * SPON + 1))
        clock.now += 60
        ledger.record_claim(HASH_A, 7 * SPON + 1, status=TxStatus.CONFIRMED)
        ledger.record_withdrawal(HASH_B, 125_000)
        out = tmp_path / "exports" / "earnings.csv"
        assert ledger.export_csv(out, tz=BERLIN) == 6
        buffer = io.StringIO()
        ledger.export_csv(buffer)
    assert out.read_text(encoding="utf-8") != buffer.getvalue()  # other time zone
    assert out.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in out.parent.iterdir()] == ["earnings.csv"]
    rows = list(csv.reader(out.open(encoding="utf-8", newline="")))
    assert rows == [
        ["date", "kind", "lease_id", "era", "amount", "token", "tx_hash", "status"],
        ["2024-03-31T01:30:00+01:00", "lease earning", "lease-1", "", "0.125", "uSPON", "", ""],
        [
            "2024-03-31T01:30:00+01:00",
            "lease earning",
            '\'=HYPERLINK("http://x","y")',
            "",
            "1",
            "uSPON",
            "",
            "",
        ],
        ["2024-03-31T01:30:00+01:00", "lease earning", "'+cmd", "", "0.5", "'@evil", "", ""],
        ["2024-03-31T01:30:00+01:00", "reward", "", "3", "7.000000000000000001", "SPON", "", ""],
        [
            "2024-03-31T01:31:00+01:00",
            "claim",
            "",
            "",
            "7.000000000000000001",
            "SPON",
            HASH_A,
            "confirmed",
        ],
        ["2024-03-31T01:31:00+01:00", "withdrawal", "", "", "0.125", "uSPON", HASH_B, "pending"],
    ]
    assert buffer.getvalue().splitlines()[1].startswith("2024-03-31T00:30:00+00:00,")


# ---- The file ----------------------------------------------------------------------------------


def test_a_corrupt_file_is_moved_aside_and_a_fresh_ledger_started(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with EarningsLedger(path, clock=lambda: 1234.0) as ledger:
        assert ledger.moved_aside == tmp_path / "ledger.sqlite3.corrupt-1234"
        assert ledger.moved_aside.read_bytes().startswith(b"this is not")
        assert ledger.record_lease_earnings("l", "1", "uSPON") == USPON


def test_a_ledger_from_a_newer_app_is_refused_with_a_remedy(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(LedgerError, match="newer version of the app") as caught:
        EarningsLedger(path)
    assert "Update the app" in caught.value.remedy


def test_an_unwritable_folder_is_explained(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(LedgerError, match="cannot be opened") as caught:
        EarningsLedger(blocker / "ledger.sqlite3")
    assert "writable" in caught.value.remedy


# ---- Reconciliation with the real contracts -----------------------------------------------------

SPEC = "linux,cpu,2,16,100,none,0,us-east,NA,x86_64,0.1.0"


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> tuple[Web3, Deployment, Path]:
    w3 = Web3(EthereumTesterProvider())
    return w3, deploy_all(w3, w3.eth.accounts[0]), tmp_path_factory.mktemp("home")


def test_reconciliation_against_escrow_earnings_and_rewards_on_chain(
    chain: tuple[Web3, Deployment, Path], tmp_path: Path
) -> None:
    w3, deployment, home = chain
    (home / "devnet").mkdir(exist_ok=True)
    deployment.write_deployment_file(home / "devnet" / "deployment.json")
    client = ChainClient(load_network("devnet", home), home, w3=w3, sleep=lambda _: None)
    node = UnlockedWallet(Account.create())
    fund(w3, deployment, node.address, 10**18, 0)
    uspon = deployment.address("USPON")
    fizz_id, _ = client.register(
        node,
        provider_id=deployment.gateway_provider_id,
        spec=SPEC,
        payment_tokens=[uspon],
        reward_wallet=node.address,
    )

    def admin(contract: str, function: str, *args: object) -> None:
        send(
            w3,
            getattr(deployment.contract(w3, contract).functions, function)(*args),
            deployment.admin,
        )

    # A tenant's lease through the real flow (spheron-network.md 6.1): deposit, order, bid,
    # match, lease, then the settler credits the node from the locked escrow.
    tenant = list(w3.eth.accounts)[3]
    fund(w3, deployment, tenant, 0, 500 * USPON)
    send(
        w3,
        deployment.contract(w3, "USPON").functions.approve(
            deployment.address("EscrowUser"), 500 * USPON
        ),
        tenant,
    )
    send(w3, deployment.contract(w3, "EscrowUser").functions.deposit(uspon, 500 * USPON), tenant)
    orders = deployment.contract(w3, "OrderRequest")
    receipt = send(w3, orders.functions.createOrder((USPON, 100, uspon, "demo", 1, 0, [])), tenant)
    order_id = orders.events.OrderCreated().process_receipt(receipt, errors=DISCARD)[0]["args"][
        "orderId"
    ]
    bid = deployment.contract(w3, "Bid").functions.placeBid(order_id, USPON, fizz_id)
    send_signed(w3, bid, gateway_account())
    admin("Bid", "matchOrder", order_id, deployment.gateway_address, fizz_id)
    admin("ComputeLease", "createLease", order_id, USPON, deployment.gateway_address, fizz_id)
    lease = str(order_id)

    with EarningsLedger(tmp_path / "ledger.sqlite3") as ledger:
        # The gateway's notices, one of them re-delivered after a reconnect.
        admin("EscrowProtocol", "transferLockedFizz", tenant, fizz_id, uspon, 15 * USPON)
        ledger.record_lease_earnings(lease, "15", "uSPON")
        admin("EscrowProtocol", "transferLockedFizz", tenant, fizz_id, uspon, 25 * USPON)
        ledger.record_lease_earnings(lease, "40", "uSPON")
        ledger.record_lease_earnings(lease, "40", "uSPON")
        (matched,) = ledger.reconcile(client.earnings(fizz_id, [uspon]))
        assert matched.matches and matched.token == uspon and matched.symbol == "uSPON"
        assert (matched.chain_earned, matched.ledger_earned) == (40 * USPON, 40 * USPON)
        assert matched.summary() == "The ledger matches the chain: 40 uSPON earned."

        # Settled on chain before the gateway's notice arrives.
        admin("EscrowProtocol", "transferLockedFizz", tenant, fizz_id, uspon, 2_500_000)
        (ahead,) = ledger.reconcile(client.earnings(fizz_id, [uspon]))
        assert ahead.difference == 2_500_000
        assert ahead.summary().startswith("The chain shows 2.5 uSPON more than the ledger")
        # Announced by the gateway, not yet settled on chain.
        ledger.record_lease_earnings(lease, "45", "uSPON")
        (behind,) = ledger.reconcile(client.earnings(fizz_id, [uspon]))
        assert behind.difference == -2_500_000 and "2.5 uSPON less" in behind.summary()

        sent = client.withdraw_earnings(node, fizz_id, uspon, 15 * USPON)
        ledger.record_withdrawal(sent.hash, 15 * USPON, status=TxStatus.from_receipt(sent.status))
        admin("EscrowProtocol", "transferLockedFizz", tenant, fizz_id, uspon, 2_500_000)
        (latest,) = ledger.reconcile(client.earnings(fizz_id, [uspon]))
        assert latest.matches
        assert (latest.chain_withdrawn, latest.ledger_withdrawn) == (15 * USPON, 15 * USPON)
        assert latest.chain_balance == 30 * USPON
        assert ledger.latest_reconciliation() == [latest]

        # Plain numbers work too (e.g. figures read from the subgraph).
        plain = ChainEarnings(uspon, "uSPON", 6, 45 * USPON, 15 * USPON, 30 * USPON)
        assert ledger.reconcile([plain])[0].matches

        # Rewards: the node's CPU claim is worth 10 SPON an era; the checker credits 7 SPON.
        cpu = client.resource_ids("CPU")
        client.submit_attributes(node, "CPU", [cpu["gp"]], [2])
        admin("FizzRewardsManager", "addFizzPendingRewards", [node.address], [7 * SPON])
        status = client.rewards(node.address)
        assert ledger.record_rewards(status) == 7 * SPON
        (era,) = ledger.era_rewards()
        assert (era.era, era.points, era.credited, era.claimed) == (
            status.current_era,
            10 * SPON,
            7 * SPON,
            False,
        )
        claim = client.claim_rewards(node)
        ledger.record_claim(claim.hash, status.pending.raw, status=TxStatus.CONFIRMED)
        assert ledger.record_rewards(client.rewards(node.address)) == 0
        assert ledger.era_rewards()[0].claimed
        totals = ledger.lifetime()
        assert (totals["SPON"].rewards, totals["SPON"].claimed) == (7 * SPON, 7 * SPON)
        assert client.balances(node.address).tokens[1].raw == totals["SPON"].claimed
        kinds = [a.kind for a in ledger.activity(limit=3)]
        assert kinds == [ActivityKind.CLAIM, ActivityKind.REWARD, ActivityKind.WITHDRAWAL]
