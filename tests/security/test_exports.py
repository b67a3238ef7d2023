"""The streaming CSV helper: formula neutralising, numbers untouched, safe file names."""

import csv
import datetime as dt
import io
from decimal import Decimal

from abm_site.exports import cell, content_disposition, csv_response, safe_filename


def _read(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def test_formula_like_text_is_neutralised_and_numbers_are_not():
    rows = [
        ["=1+1", "+33 1 23", "-5", "@SUM(A1)", "\tx", "\rx", "plain", "a=b"],
        [-5, 2.5, Decimal("-1.20"), None, True, dt.date(2026, 1, 31), "", "O'Neil"],
    ]
    response = csv_response("accounts.csv", ["=head", "b", "c", "d", "e", "f", "g", "h"], rows)
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    header, texts, values = _read(response)
    assert header[0] == "'=head"
    assert texts == ["'=1+1", "'+33 1 23", "'-5", "'@SUM(A1)", "'\tx", "'\rx", "plain", "a=b"]
    assert values == ["-5", "2.5", "-1.20", "", "true", "2026-01-31", "", "O'Neil"]


def test_cell_keeps_numbers_as_numbers():
    assert cell(-3) == -3
    assert cell(Decimal("-0.5")) == Decimal("-0.5")
    assert cell("-3") == "'-3"


def test_rows_are_generated_lazily():
    produced = []

    def rows():
        for i in range(3):
            produced.append(i)
            yield [i]

    response = csv_response("x.csv", ["n"], rows())
    assert produced == []
    chunks = iter(response.streaming_content)
    next(chunks)  # the header
    assert produced == []
    next(chunks)
    assert produced == [0]


def test_content_disposition_is_ascii_with_an_exact_utf8_name():
    value = content_disposition('Comptes "ciblés"\r\n/../Zürich 2026')
    assert value.isascii()
    assert "\r" not in value and "\n" not in value
    assert value.startswith('attachment; filename="Comptes_cibles_._Zurich_2026.csv"; ')
    assert value.endswith("filename*=UTF-8''Comptes%20%22cibl%C3%A9s%22_.._Z%C3%BCrich%202026.csv")


def test_safe_filename_edge_cases():
    assert safe_filename("") == "export.csv"
    assert safe_filename("..") == "export.csv"
    assert safe_filename("日本") == "export.csv"
    assert safe_filename("kpis.CSV") == "kpis.CSV"
    assert safe_filename("a b;c.csv") == "a_b_c.csv"
