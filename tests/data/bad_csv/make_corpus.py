"""Write the bad-input CSV corpus next to this script (run once; the outputs are committed).

    .venv/bin/python tests/data/bad_csv/make_corpus.py

Account files use our own column names (the default mapping); ``dates.csv``
and ``numbers.csv`` are opportunities of an account named "Acme".
``tests/funnel/test_csv_import_bad_input.py`` pins the report of each file.
"""

import io
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ACCOUNTS = "name,domain,industry,employees,annual_revenue,country"
OPPS = "external_id,account_name,status,amount,created_on,closed_on"


def lines(*rows: str, end: str = "\r\n") -> str:
    return end.join(rows) + end


def write(name: str, data: bytes) -> None:
    (HERE / name).write_bytes(data)


def main() -> None:
    write(
        "utf8_bom.csv",
        b"\xef\xbb\xbf"
        + lines(
            ACCOUNTS, "Café Ltd,cafe.example,Food,10,,France", "Zoë AG,zoe.example,,,,"
        ).encode(),
    )
    write(
        "utf16.csv",
        lines(
            ACCOUNTS, "Straße GmbH,strasse.example,Retail,5,,Germany", "Łódź sp,lodz.example,,,,"
        ).encode("utf-16"),  # BOM + little endian
    )
    write(
        "cp1252.csv",
        lines(ACCOUNTS, "Müller GmbH,mueller.example,Manufacturing,120,,Österreich").encode(
            "cp1252"
        ),
    )
    write(
        "semicolon.csv",
        lines(
            "name;domain;industry;employees;annual_revenue;country",
            "Semi One;semi1.example;Software;12;1200.50;Spain",
            'Semi Two;semi2.example;"Retail; online";3;;Italy',
        ).encode(),
    )
    write(
        "tab.csv",
        lines(
            ACCOUNTS.replace(",", "\t"),
            "Tab One\ttab1.example\tSoftware\t7\t\tNorway",
            "Tab Two\ttab2.example\t\t\t\t",
        ).encode(),
    )
    write(
        "cr_only.csv",
        lines(
            ACCOUNTS,
            "Mac One,mac1.example,,1,,",
            "Mac Two,mac2.example,,2,,",
            "Mac Three,,,,,",
            end="\r",
        ).encode(),
    )
    write("empty.csv", b"")
    write("header_only.csv", lines(ACCOUNTS).encode())
    write("missing_header.csv", lines("domain,industry", "nameless.example,Software").encode())
    write("duplicate_header.csv", lines("name,domain,name", "Dup Co,dup.example,Dup Co").encode())
    write(
        "ragged.csv",
        lines(
            ACCOUNTS,
            "Rag One,rag1.example,,,,",
            "Rag Two,rag2.example,,,,,extra",
            "Rag Three,rag3.example",
        ).encode(),
    )
    write(
        "unterminated_quote.csv",
        lines(
            ACCOUNTS,
            "Quote One,quote1.example,,,,",
            '"Broken Co,broken.example,,,,',
            "Quote Two,quote2.example,,,,",
            'Quote Three,quote3.example,"Software, B2B",,,',
        ).encode(),
    )
    write(
        "long_field.csv",
        lines(
            ACCOUNTS,
            "Long Co,long.example," + "x" * 140_000 + ",,,",
            "Short Co,short.example,,,,",
        ).encode(),
    )
    write(
        "nul_bytes.csv",
        lines(ACCOUNTS, "Nul\x00Co,nul.example,,,,", "Clean Co,clean.example,,,,").encode(),
    )
    write(
        "formulas.csv",
        lines(
            ACCOUNTS,
            '"=HYPERLINK(""http://evil.example"",""click"")",formula1.example,,,,',
            "+1+1,formula2.example,,,,",
            "@SUM(1),formula3.example,,,,",
            '"\t=1+2",formula4.example,,,,',
            "Plain Co,formula5.example,-2+3,,,",
        ).encode(),
    )
    write(
        "duplicate_keys.csv",
        lines(
            ACCOUNTS,
            "Key One,key.example,,,,",
            "Key Two,other.example,,,,",
            "Key Three,KEY.example,,,,",
            "Same Name,,,,,",
            "Same Name,,,,,",
        ).encode(),
    )
    write(
        "dates.csv",
        lines(
            OPPS,
            "D1,Acme,won,100,2024-01-10,2024-02-29",
            "D2,Acme,won,100,2024-01-10,2024-02-30",
            "D3,Acme,open,100,45292,",
            "D4,Acme,lost,0,2024-01-10,31/12/2024",
            "D5,Acme,open,100,2024-13-01,",
            "D6,Acme,lost,0,2024-01-10,yesterday",
            "D7,Acme,won,100,2024-03-10,2024-03-01",
            "D8,acme,open,100,2024-03-10T09:30:00Z,",
        ).encode(),
    )
    write(
        "numbers.csv",
        lines(
            OPPS,
            '"N1",Acme,open,"$1,200",,',
            'N2,Acme,open,"1.234,56",,',
            "N3,Acme,open,(500),,",
            "N4,Acme,open,NaN,,",
            "N5,Acme,open,inf,,",
            "N6,Acme,open,1e400,,",
            "N7,Acme,open,12.345,,",
            "N8,Acme,open,-5,,",
            "N9,Acme,open,abc,,",
        ).encode(),
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as workbook:
        for name, body in (
            ("[Content_Types].xml", '<?xml version="1.0"?><Types/>'),
            ("xl/workbook.xml", '<?xml version="1.0"?><workbook/>'),
        ):  # fixed timestamps: the same bytes on every run
            workbook.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), body)
    write("xlsx_renamed.csv", buffer.getvalue())


if __name__ == "__main__":
    main()
