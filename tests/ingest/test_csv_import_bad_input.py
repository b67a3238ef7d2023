"""The bad-input corpus (tests/data/bad_csv, made by make_corpus.py): each file's pinned report.

Every file is imported twice: the first run's counts and rejected rows are
pinned, every valid row is stored exactly once, and the second run stores
nothing new.
"""

from decimal import Decimal
from pathlib import Path

import pytest

from accounts.models import Account
from funnel.models import Opportunity
from ingest.services import csv_import
from tests.factories import AccountFactory

CORPUS = Path(__file__).resolve().parent.parent / "data" / "bad_csv"
NUL = "contains a NUL character"
UNTERMINATED = "unterminated quoted field"

# file, kind, rows read, created, [(line, column, reason fragment)], names or ids stored
CASES = [
    ("utf8_bom.csv", "accounts", 2, 2, [], ["Café Ltd", "Zoë AG"]),
    ("utf16.csv", "accounts", 2, 2, [], ["Straße GmbH", "Łódź sp"]),
    ("cp1252.csv", "accounts", 1, 1, [], ["Müller GmbH"]),
    ("semicolon.csv", "accounts", 2, 2, [], ["Semi One", "Semi Two"]),
    ("tab.csv", "accounts", 2, 2, [], ["Tab One", "Tab Two"]),
    ("cr_only.csv", "accounts", 3, 3, [], ["Mac One", "Mac Two", "Mac Three"]),
    ("header_only.csv", "accounts", 0, 0, [], []),
    (
        "ragged.csv",
        "accounts",
        3,
        1,
        [
            (3, "", "the row has 7 fields but the header has 6"),
            (4, "", "the row has 2 fields but the header has 6"),
        ],
        ["Rag One"],
    ),
    (
        "unterminated_quote.csv",
        "accounts",
        4,
        3,
        [(3, "", UNTERMINATED)],
        ["Quote One", "Quote Two", "Quote Three"],
    ),
    (
        "long_field.csv",
        "accounts",
        2,
        1,
        [(2, "", "a field is longer than 131,072 characters")],
        ["Short Co"],
    ),
    ("nul_bytes.csv", "accounts", 2, 1, [(2, "name", NUL)], ["Clean Co"]),
    (
        "formulas.csv",
        "accounts",
        5,
        5,
        [],
        ['=HYPERLINK("http://evil.example","click")', "+1+1", "@SUM(1)", "=1+2", "Plain Co"],
    ),
    (
        "duplicate_keys.csv",
        "accounts",
        5,
        3,
        [(4, "domain", "same account as line 2"), (6, "name", "same account as line 5")],
        ["Key One", "Key Two", "Same Name"],
    ),
    (
        "dates.csv",
        "opportunities",
        8,
        3,
        [
            (3, "closed_on", "'2024-02-30' is not a real calendar date"),
            (4, "created_on", "'45292' looks like an Excel serial date number"),
            # '31/12/2024' (line 5) can only be day-first: the column is read dmy and stored.
            (6, "created_on", "'2024-13-01' is not a real calendar date"),
            (7, "closed_on", "'yesterday' is not a date"),
            (8, "closed_on", "2024-03-01 is before the created date 2024-03-10"),
        ],
        ["D1", "D4", "D8"],
    ),
    (
        "numbers.csv",
        "opportunities",
        9,
        2,
        [
            (3, "amount", "'1.234,56' looks like a number with a decimal comma"),
            (4, "amount", "'(500)' is negative"),
            (5, "amount", "'NaN' is not a finite number"),
            (6, "amount", "'inf' is not a finite number"),
            (7, "amount", "'1e400' is too large"),
            (9, "amount", "'-5' is negative"),
            (10, "amount", "'abc' is not a number"),
        ],
        ["N1", "N7"],
    ),
]

FILE_ERRORS = [
    ("empty.csv", "The file is empty."),
    ("missing_header.csv", "The header has no column for name (required)"),
    ("duplicate_header.csv", "The column 'name' appears twice in the header (columns 1 and 3)"),
    ("xlsx_renamed.csv", "This is an Excel workbook"),
]


def _stored(kind: str) -> list[str]:
    if kind == "accounts":
        return sorted(Account.objects.exclude(name="Acme").values_list("name", flat=True))
    return sorted(Opportunity.objects.values_list("external_id", flat=True))


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "kind", "read", "created", "rejected", "stored"), CASES)
def test_corpus_file_report(name, kind, read, created, rejected, stored):
    AccountFactory(name="Acme", domain="acme.example")
    report = csv_import(kind, CORPUS / name)

    assert report.ok, report.errors
    assert (report.rows_read, report.created, report.updated, report.unchanged) == (
        read,
        created,
        0,
        0,
    )
    assert len(report.rejected) == len(rejected)
    for got, (line, column, reason) in zip(report.rejected, rejected, strict=True):
        assert (got.line, got.column) == (line, column)
        assert reason in got.reason
    assert _stored(kind) == sorted(stored)

    again = csv_import(kind, CORPUS / name)
    assert (again.created, again.updated, again.unchanged) == (0, 0, created)
    assert [(r.line, r.column) for r in again.rejected] == [(r[0], r[1]) for r in rejected]
    assert _stored(kind) == sorted(stored)


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "message"), FILE_ERRORS)
def test_unusable_files_are_refused_with_a_reason(name, message):
    report = csv_import("accounts", CORPUS / name)
    assert not report.ok
    assert message in " ".join(report.errors)
    assert report.rows_read == 0
    assert not Account.objects.exists()


@pytest.mark.django_db
def test_encodings_and_delimiters_are_reported():
    assert csv_import("accounts", CORPUS / "utf16.csv", dry_run=True).encoding == "utf-16"
    assert csv_import("accounts", CORPUS / "utf8_bom.csv", dry_run=True).encoding == "utf-8-sig"
    cp1252 = csv_import("accounts", CORPUS / "cp1252.csv", dry_run=True)
    assert cp1252.encoding == "cp1252"
    assert any("not valid UTF-8" in w and "cp1252" in w for w in cp1252.warnings)
    assert csv_import("accounts", CORPUS / "semicolon.csv", dry_run=True).delimiter == ";"
    assert csv_import("accounts", CORPUS / "tab.csv", dry_run=True).delimiter == "\t"
    assert not Account.objects.exists()


@pytest.mark.django_db
def test_values_parsed_from_odd_files():
    csv_import("accounts", CORPUS / "semicolon.csv")
    csv_import("accounts", CORPUS / "cp1252.csv")
    semi = Account.objects.get(name="Semi One")
    assert semi.annual_revenue == Decimal("1200.50")
    assert Account.objects.get(name="Semi Two").industry == "Retail; online"
    assert Account.objects.get(name="Müller GmbH").country == "Österreich"


@pytest.mark.django_db
def test_amounts_and_dates_as_stored():
    AccountFactory(name="Acme", domain="acme.example")
    csv_import("opportunities", CORPUS / "numbers.csv")
    csv_import("opportunities", CORPUS / "dates.csv")
    amounts = dict(Opportunity.objects.values_list("external_id", "amount"))
    assert amounts["N1"] == Decimal("1200.00")
    assert amounts["N7"] == Decimal("12.35")
    d1 = Opportunity.objects.get(external_id="D1")
    assert (str(d1.created_on), str(d1.closed_on)) == ("2024-01-10", "2024-02-29")
    assert str(Opportunity.objects.get(external_id="D8").created_on) == "2024-03-10"


@pytest.mark.django_db
def test_excel_serial_dates_and_decimal_comma_when_the_mapping_says_so():
    AccountFactory(name="Acme", domain="acme.example")
    columns = {f: f for f in ("external_id", "account_name", "status", "amount")}
    columns |= {"created_on": "created_on", "closed_on": "closed_on"}
    report = csv_import(
        "opportunities", CORPUS / "dates.csv", mapping={"columns": columns, "excel_dates": True}
    )
    assert report.created == 4  # D1, D3 (serial 45292 = 2024-01-01), D4 (31/12/2024), D8
    assert str(Opportunity.objects.get(external_id="D3").created_on) == "2024-01-01"
    report = csv_import(
        "opportunities", CORPUS / "numbers.csv", mapping={"columns": columns, "decimal_comma": True}
    )
    assert Opportunity.objects.get(external_id="N2").amount == Decimal("1234.56")
    # With a decimal comma declared, "$1,200" means 1.2 and "12.345" means 12345.
    assert Opportunity.objects.get(external_id="N1").amount == Decimal("1.20")
    assert Opportunity.objects.get(external_id="N7").amount == Decimal("12345.00")
    assert report.rows_read == 9


@pytest.mark.django_db
def test_rejected_rows_written_as_csv_with_formulas_neutralised(tmp_path):
    report = csv_import("accounts", CORPUS / "ragged.csv")
    out = tmp_path / "rejected.csv"
    with out.open("w", newline="", encoding="utf-8") as fh:
        assert report.write_rejected_csv(fh) == 2
    text = out.read_text(encoding="utf-8").splitlines()
    assert text[0] == "line,column,reason,name,domain,industry,employees,annual_revenue,country"
    assert text[1].startswith("3,,the row has 7 fields but the header has 6,Rag Two,rag2.example")
