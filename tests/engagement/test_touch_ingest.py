"""TouchIngest: batches validated on the caller's thread, written (on PostgreSQL) by a writer.

The writer thread shares the caller's connection and transaction; these
tests pin what that must not change: every batch reported in order with
its own counts, a batch the database refuses losing only the refused rows,
any other database error rolling the whole ingest back, and the content
key, COPY escaping and lookups giving what the single-threaded path gave.
"""

import gc
import sys
from decimal import Decimal

import pytest
from django.db import OperationalError, connection, transaction

import engagement.ingest.rows
import ingest.kinds.engagement
from abm_site.csvio import content_key
from abm_site.db import in_values
from accounts.models import Account
from engagement.ingest import pipeline, references, writers
from engagement.models import Touch
from engagement.services import TouchIngest, touch_bulk_create
from ingest.services import csv_import
from tests.factories import AccountFactory, StakeholderFactory

postgresql_only = pytest.mark.skipif(
    "connection.vendor != 'postgresql'",
    reason="SQLite checks foreign keys at commit and INSERT OR IGNORE skips CHECK failures, "
    "so only PostgreSQL refuses single rows of a batch",
)


@pytest.fixture
def accounts(db):
    acme = AccountFactory(name="Acme", domain="acme.example", needs_recompute=False)
    beta = AccountFactory(name="Beta", domain="beta.example", needs_recompute=False)
    StakeholderFactory(account=acme, email="ann@acme.example")
    return acme, beta


def touch(account, n: int, **extra) -> dict:
    return {
        "account_id": account.id,
        "kind": "web_visit",
        "occurred_at": f"2024-05-01T10:{n:02d}:00Z",
        "external_id": f"t-{n}",
        **extra,
    }


def csv_file(tmp_path, lines: list[str]):
    path = tmp_path / "touches.csv"
    path.write_text("account_id,kind,occurred_at,external_id,cost\n" + "\n".join(lines) + "\n")
    return path


def test_batches_are_reported_in_order_with_their_own_counts(accounts):
    acme, beta = accounts
    reports = []
    with TouchIngest(source="api") as ingest:
        ingest.add([touch(acme, 1), touch(acme, 2)], reports.append)
        # t-1 again (a duplicate of the first batch) and an unknown kind.
        ingest.add([touch(acme, 1), touch(beta, 3, kind="teleport")], reports.append)
        ingest.add([touch(beta, 4)], reports.append)
        ingest.add([], reports.append)
    assert [(r.accepted, r.duplicates) for r in reports] == [(2, 0), (0, 1), (1, 0), (0, 0)]
    assert [(x.index, x.field) for x in reports[1].rejected] == [(1, "kind")]
    assert sum(r.accounts_marked for r in reports) == 2
    assert [r.account_ids for r in reports[:3]] == [{acme.id}, set(), {beta.id}]
    assert Touch.objects.count() == 3


def test_touch_bulk_create_over_several_batches(accounts, monkeypatch):
    monkeypatch.setattr(pipeline, "BULK_BATCH", 2)
    acme, beta = accounts
    no_key = {"account_id": beta.id, "kind": "meeting", "occurred_at": "2024-05-02"}
    rows = [
        touch(acme, 1),
        touch(acme, 2, kind="teleport"),
        touch(acme, 3),
        touch(acme, 1),  # duplicate of row 0, in the next batch
        no_key,
        dict(no_key),  # same content, no external id: a duplicate within the batch
        touch(beta, 5, occurred_at="2024-02-30"),
    ]
    result = touch_bulk_create(rows, source="api")
    assert (result.accepted, result.duplicates) == (3, 2)
    assert [(r.index, r.field) for r in result.rejected] == [(1, "kind"), (6, "occurred_at")]
    assert (result.accounts_marked, result.account_ids) == (2, {acme.id, beta.id})
    assert Touch.objects.count() == 3


def test_batches_grow_from_a_small_first_one():
    """PostgreSQL starts writing after the first few rows, not after a whole batch."""
    sizes = [len(b) for b in pipeline.ramped_batches(range(5_000), 2_000, first=500)]
    assert sizes == [500, 1_000, 2_000, 1_500]
    assert [len(b) for b in pipeline.ramped_batches(range(7), 3, first=500)] == [3, 3, 1]
    assert list(pipeline.ramped_batches([], 3)) == []


def test_a_touch_file_is_validated_in_growing_batches(accounts, tmp_path, monkeypatch):
    """The CSV import hands the ingest a small first batch, then twice as many each time,
    and reports every row's progress."""
    acme, _ = accounts
    monkeypatch.setattr(ingest.kinds.engagement, "TOUCH_CHUNK", 4)
    monkeypatch.setattr(pipeline.ramped_batches, "__defaults__", (1,))
    sizes = []
    add = TouchIngest.add

    def recording(self, rows, done):
        sizes.append(len(rows))
        return add(self, rows, done)

    monkeypatch.setattr(TouchIngest, "add", recording)
    path = csv_file(tmp_path, [f"{acme.id},web_visit,2024-05-01,g-{n}," for n in range(10)])
    done = []
    report = csv_import("touches", path, source="csv", progress=lambda n, total: done.append(n))
    assert sizes == [1, 2, 4, 3]
    assert (report.created, sum(done)) == (10, 10)


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("2026-03-05T10:11:12+00:00", "2026-03-05T10:11:12+00:00"),  # kept as sent
        (" 2026-03-05T10:11:12+00:00 ", "2026-03-05T10:11:12+00:00"),
        ("2026-03-05T10:11:12Z", "2026-03-05T10:11:12+00:00"),
        ("2026-03-05 10:11:12+00:00", "2026-03-05T10:11:12+00:00"),
        ("2026-03-05T12:11:12+02:00", "2026-03-05T10:11:12+00:00"),
        ("2026-03-05T101112.5+00:00", "2026-03-05T10:11:12.500000+00:00"),  # 25 characters
        ("2026-W10-4T10:11:12+00:00", "2026-03-05T10:11:12+00:00"),  # a week date, 25 too
        ("2026-03-05T10:11:12.250000+00:00", "2026-03-05T10:11:12.250000+00:00"),
    ],
)
def test_a_touch_time_is_stored_as_utc_iso_text(sent, stored):
    """What COPY stores and the content key hashes: one spelling whatever was sent."""
    options = engagement.ingest.rows.ParseOptions()
    assert engagement.ingest.rows._moment(sent, options) == stored


def test_content_key_is_content_key_of_the_parts(accounts):
    """A row without an external id keeps the key earlier versions derived (re-imports stay
    idempotent across versions)."""
    acme, _ = accounts
    ann = acme.stakeholders.get()
    row = {
        "stakeholder_email": "ann@acme.example",
        "kind": "Email open",
        "occurred_at": "2024-05-02T09:00:00.5+02:00",
        "channel": " email ",
        "direction": "Outbound",
        "url": "https://x.example/a",
        "asset": "Deck",
        "funnel_position": "MOFU",
        "engagement_minutes": "007.5",
        "cost": 12.5,
    }
    assert touch_bulk_create([row], source="api").accepted == 1
    expected = content_key(
        (
            acme.id,
            ann.id,
            None,
            "email_open",
            "2024-05-02T07:00:00.500000+00:00",
            "email",
            "outbound",
            "https://x.example/a",
            "Deck",
            "mofu",
            Decimal("7.5"),
            Decimal("12.5"),
        )
    )
    assert Touch.objects.get().external_id == expected


def test_text_that_copy_escapes_is_stored_as_sent(accounts):
    acme, _ = accounts
    url = "https://x.example/a\tb\\N\nc\rd\\"
    result = touch_bulk_create([touch(acme, 1, url=url, asset="\\.", channel="\\")], source="s")
    assert result.accepted == 1
    stored = Touch.objects.get()
    assert (stored.url, stored.asset, stored.channel) == (url, "\\.", "\\")


@pytest.mark.parametrize("field", ["channel", "url", "asset", "source", "external_id"])
def test_one_escaped_field_alone_is_stored_as_sent(accounts, field):
    """The escape check looks at every free-text field, not only the first that has one."""
    acme, _ = accounts
    text = "a\tb\\c"
    result = touch_bulk_create([touch(acme, 1, **{field: text})], source="s")
    assert result.accepted == 1
    assert getattr(Touch.objects.get(), field) == text


@postgresql_only
def test_a_refused_row_costs_only_itself(accounts, tmp_path, monkeypatch):
    """The database refuses a row the validation let through (here: an account that vanished
    after the lookup, and a cost that overflows its column): the other rows of its batch and
    of the other batches are stored, the report counts are exact and name the column."""
    acme, beta = accounts
    monkeypatch.setattr(ingest.kinds.engagement, "TOUCH_CHUNK", 3)
    vanished = Account.objects.order_by("-id").values_list("id", flat=True)[0] + 1000
    fetch = references._References.fetch

    def fetch_then_forget(self, asks):
        fetch(self, asks)
        self.accounts.ids.add(vanished)  # resolves, but the row is gone from the table

    monkeypatch.setattr(references._References, "fetch", fetch_then_forget)
    amount = engagement.ingest.rows._amount

    def overflowing(name, value, max_digits, options):
        return Decimal("1e11") if value == "999" else amount(name, value, max_digits, options)

    monkeypatch.setattr(engagement.ingest.rows, "_amount", overflowing)
    path = csv_file(
        tmp_path,
        [
            f"{acme.id},web_visit,2024-05-01,a-1,",  # line 2, batch 1
            f"{acme.id},web_visit,2024-05-02,a-2,",
            f"{beta.id},web_visit,2024-05-03,a-3,",
            f"{beta.id},web_visit,2024-05-04,a-4,",  # line 5, batch 2
            f"{vanished},web_visit,2024-05-05,a-5,",  # refused: foreign key
            f"{beta.id},web_visit,2024-05-06,a-6,999",  # refused: numeric overflow
            f"{acme.id},web_visit,2024-05-07,a-7,",  # line 8, batch 3
            f"{acme.id},web_visit,2024-05-08,a-2,",  # duplicate of line 3
        ],
    )
    report = csv_import("touches", path, source="csv")
    assert (report.rows_read, report.created, report.unchanged) == (8, 5, 1)
    assert [(r.line, r.column) for r in report.rejected] == [(6, "account_id"), (7, "cost")]
    assert all(r.reason.startswith("the database refused the row: ") for r in report.rejected)
    assert "foreign key" in report.rejected[0].reason
    assert report.accounts_marked == 2
    assert sorted(Touch.objects.values_list("external_id", flat=True)) == [
        "a-1",
        "a-2",
        "a-3",
        "a-4",
        "a-7",
    ]


def test_a_failing_write_rolls_the_whole_import_back(accounts, tmp_path, monkeypatch):
    """An error that is not about a row (the server went away) ends the import: nothing
    is kept, the batches queued behind it are not written, the process settings are back."""
    acme, beta = accounts
    monkeypatch.setattr(ingest.kinds.engagement, "TOUCH_CHUNK", 2)
    writer = writers._PostgresWriter if connection.vendor == "postgresql" else writers._OrmWriter
    insert = writer._insert
    calls = []

    def second_fails(self, records, data):
        calls.append(len(records))
        if len(calls) == 2:
            raise OperationalError("the server went away")
        return insert(self, records, data)

    monkeypatch.setattr(writer, "_insert", second_fails)
    interval = sys.getswitchinterval()
    path = csv_file(
        tmp_path, [f"{a.id},web_visit,2024-05-0{n},b-{n}," for n, a in enumerate([acme] * 6, 1)]
    )
    with pytest.raises(OperationalError, match="went away"):
        csv_import("touches", path, source="csv")
    assert calls == [2, 2]  # the batches after the failure are not written
    assert not Touch.objects.exists()
    assert not Account.objects.filter(needs_recompute=True).exists()
    assert sys.getswitchinterval() == interval
    assert gc.isenabled()
    assert not connection.allow_thread_sharing


def test_an_error_on_the_callers_side_rolls_back_and_stops_the_writer(accounts):
    acme, _ = accounts
    with pytest.raises(RuntimeError), TouchIngest(source="api") as ingest:
        ingest.add([touch(acme, 1)], lambda result: None)
        raise RuntimeError("the CSV reader failed")
    assert not Touch.objects.exists()
    assert not connection.allow_thread_sharing
    assert gc.isenabled()


def test_dry_run_of_a_touch_file_in_several_batches(accounts, tmp_path, monkeypatch):
    acme, beta = accounts
    monkeypatch.setattr(ingest.kinds.engagement, "TOUCH_CHUNK", 2)
    path = csv_file(
        tmp_path,
        [
            f"{a.id},web_visit,2024-05-0{n},d-{n},"
            for n, a in enumerate([acme, beta, acme, beta, acme], 1)
        ],
    )
    report = csv_import("touches", path, source="csv", dry_run=True)
    assert (report.created, report.accounts_marked) == (5, 2)
    assert not Touch.objects.exists()
    assert not Account.objects.filter(needs_recompute=True).exists()


def test_in_values_matches_in_lookups(accounts):
    acme, beta = accounts
    ids = {acme.id, beta.id, 2**70, -5}  # out-of-range ids match nothing
    found = Account.objects.filter(in_values("id", ids, "bigint"))
    assert sorted(found.values_list("id", flat=True)) == sorted([acme.id, beta.id])
    by_domain = Account.objects.filter(in_values("domain", ["acme.example", "x'y"], "text"))
    assert list(by_domain.values_list("name", flat=True)) == ["Acme"]
    assert not Account.objects.filter(in_values("id", [], "bigint")).exists()
    with pytest.raises(ValueError):
        in_values("id", [1], "bigint; DROP TABLE x")


def test_ingests_one_after_another_in_one_transaction(accounts):
    """The staging table lives for one ingest: a second ingest in the same transaction
    (after a failed one, too) starts clean."""
    acme, _ = accounts
    with transaction.atomic():
        with pytest.raises(RuntimeError), TouchIngest(source="api") as ingest:
            ingest.add([touch(acme, 1)], lambda result: None)
            raise RuntimeError("the client went away")
        for n in (2, 3, 3):
            touch_bulk_create([touch(acme, n)], source="api")
    assert sorted(Touch.objects.values_list("external_id", flat=True)) == ["t-2", "t-3"]


@postgresql_only
def test_new_touches_are_copied_straight_in_and_stored_keys_take_the_safe_way(accounts):
    """New rows go by one COPY into the touch table; the first batch meeting a stored key
    switches to the staging table and ON CONFLICT, with exact counts for every batch."""
    acme, beta = accounts
    reports = []
    with TouchIngest(source="api") as fresh:
        fresh.add([touch(acme, 1), touch(beta, 2)], reports.append)
    assert not fresh._writer._staging  # never needed the staging table
    with TouchIngest(source="api") as mixed:
        mixed.add([touch(acme, 3), touch(beta, 4)], reports.append)  # new: COPY
        mixed.add([touch(acme, 5), touch(acme, 1), touch(beta, 6)], reports.append)  # t-1 stored
        mixed.add([touch(beta, 7), touch(beta, 2)], reports.append)
    assert mixed._writer._staging
    assert [(r.accepted, r.duplicates) for r in reports] == [(2, 0), (2, 0), (2, 1), (1, 1)]
    assert [sorted(r.account_ids) for r in reports[2:]] == [[acme.id, beta.id], [beta.id]]
    assert Touch.objects.count() == 7
