"""Amounts in another currency than ``ABM_CURRENCY``: converted with an admin's rate, or refused."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

from abm_site.csvio import ImportContext, Row


class Currencies:
    """The exchange rates of one import (one query), and what it converted."""

    def __init__(self, ctx: ImportContext) -> None:
        from ..models import ExchangeRate

        self.ctx = ctx
        self.home = settings.ABM_CURRENCY.upper()
        self.rates = dict(ExchangeRate.objects.values_list("currency", "rate"))
        self.converted: dict[str, int] = {}

    def amount(self, row: Row, field_name: str, value: Decimal | None) -> Decimal | None:
        """``value`` (of ``field_name``) in the app's currency, per the row's ``currency``.

        A row in a currency without a rate is rejected with what to do.
        """
        code = (
            self.ctx.text(row, "currency", max_length=10).upper()
            if self.ctx.has("currency")
            else ""
        )
        if value is None or not code or code == self.home:
            return value
        rate = self.rates.get(code)
        if rate is None:
            raise self.ctx.fail(
                "currency",
                f"the amount is in {code[:10]}, not {self.home}, and no exchange rate for "
                f"{code[:10]} is entered (admin: Imports › Exchange rates); enter one or "
                f"convert the file to {self.home}",
            )
        self.converted[code] = self.converted.get(code, 0) + 1
        return (value * rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    def finish(self) -> None:
        """Say in the report what was converted, at which rate."""
        for code, count in sorted(self.converted.items()):
            self.ctx.report.notes.append(
                f"{count} amounts in {code} were converted to {self.home} at "
                f"{self.rates[code].normalize()} {self.home} per {code} (the admin's rate)."
            )
