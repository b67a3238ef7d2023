"""``manage.py import_csv KIND FILE``: the CSV import engine from the command line."""

import datetime as dt
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ingest.selectors import IMPORT_KINDS, available_mappings
from ingest.services import csv_import

SHOWN_REJECTIONS = 50


class Command(BaseCommand):
    help = (
        "Import a CSV file of accounts, stakeholders, opportunities, touches, spend, NPS "
        "responses or intent signals. Idempotent: importing the same file again changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=sorted(IMPORT_KINDS))
        parser.add_argument("file", help="Path of the CSV file.")
        parser.add_argument(
            "--mapping",
            default=None,
            help="A shipped mapping (default, maven-crm, salesforce, salesforce-activities, "
            "hubspot, bombora, linkedin-ads, google-ads), one saved on the Imports page, or a "
            "JSON file. Without it the mapping is detected from the header.",
        )
        parser.add_argument(
            "--date-order",
            choices=["dmy", "mdy", "ymd"],
            default=None,
            help="How 01/10/2026 reads (day-month-year, month-day-year, year-month-day) when "
            "the file cannot tell; by default each date column's order is decided from the file.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Validate and count; write nothing."
        )
        parser.add_argument(
            "--targeted-on",
            type=dt.date.fromisoformat,
            default=None,
            help="Accounts: the day (YYYY-MM-DD) new target accounts without a targeting date "
            "joined the target list (default: the import date).",
        )
        parser.add_argument("--source", default=None, help="Source name for (source, external id).")
        parser.add_argument(
            "--rejected-out", default=None, help="Write every rejected row to this CSV file."
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, **options) -> None:
        kind = options["kind"]
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        progress = None
        bar = None
        if not options["no_progress"] and path.stat().st_size > 1_000_000:
            from tqdm import tqdm

            bar = tqdm(total=None, unit=" rows", file=self.stderr._out, desc=f"import {kind}")

            def progress(done: int, total: int) -> None:
                if bar.total is None:
                    bar.total = total
                bar.update(done)

        try:
            report = csv_import(
                kind,
                path,
                mapping=options["mapping"],
                dry_run=options["dry_run"],
                source=options["source"],
                progress=progress,
                date_order=options["date_order"],
                targeted_on=options["targeted_on"],
            )
        finally:
            if bar is not None:
                bar.close()
        self._print(report)
        if options["rejected_out"] and report.rejected:
            with open(options["rejected_out"], "w", newline="", encoding="utf-8") as out:
                count = report.write_rejected_csv(out)
            self.stdout.write(f"Wrote {count} rejected rows to {options['rejected_out']}.")
        if not report.ok:
            mappings = ", ".join(name for name, _ in available_mappings(kind))
            raise CommandError(" ".join(report.errors) + f" (mappings for {kind}: {mappings})")

    def _print(self, report) -> None:
        out = self.stdout
        title = f"Import of {report.kind}" + (
            " (dry run: nothing written)" if report.dry_run else ""
        )
        out.write(title)
        out.write(
            f"  mapping {report.mapping} · source {report.source or '-'} · "
            f"encoding {report.encoding or '-'} · delimiter {report.as_dict()['delimiter'] or '-'}"
        )
        rows = [
            ("rows read", report.rows_read),
            ("created", report.created),
            ("updated", report.updated),
            ("unchanged", report.unchanged),
            ("rejected", len(report.rejected)),
            ("accounts marked for recompute", report.accounts_marked),
        ]
        width = max(len(label) for label, _ in rows)
        for label, value in rows:
            out.write(f"  {label:<{width}}  {value:>9,}")
        for note in report.notes:
            out.write(f"Note: {note}")
        for warning in report.warnings:
            out.write(self.style.WARNING(f"Warning: {warning}"))
        for error in report.errors:
            out.write(self.style.ERROR(f"Error: {error}"))
        if report.rejected:
            out.write(f"Rejected rows (line, column, reason){':' if report.rejected else ''}")
            for r in report.rejected[:SHOWN_REJECTIONS]:
                out.write(f"  line {r.line:>7}  {r.column or '-':<20}  {r.reason}")
            if len(report.rejected) > SHOWN_REJECTIONS:
                out.write(
                    f"  … and {len(report.rejected) - SHOWN_REJECTIONS:,} more; "
                    "use --rejected-out FILE to write them all as CSV."
                )
        out.write(report.summary())
