"""``manage.py kpis``: the KPI catalogue for a period, as an aligned table or as JSON."""

import datetime as dt
import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from funnel.kpis import Filters, Period, compute

STAGE_TITLES = {
    1: "Stage 1 - Target accounts",
    2: "Stage 2 - Engaged target accounts",
    3: "Stage 3 - Target account opportunities",
    4: "Stage 4 - New deals won",
    5: "Stage 5 - Customer retention",
    6: "Stage 6 - Customer expansion",
    0: "Funnel and velocity",
}


def _date(option: str):
    def parse(text: str) -> dt.date:
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise CommandError(f"{option}: {text!r} is not a date (use YYYY-MM-DD).") from None

    return parse


def _number(value: Any, unit: str, currency: str) -> str:
    if value is None:
        return "-"
    if unit == "ratio":
        return f"{value * 100:.2f} %"
    if unit == "money":
        return f"{currency} {value:,.2f}"
    if unit == "days":
        return f"{value:,.2f} d"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{value:,.0f}"


def _map_text(item: dict[str, Any], currency: str) -> str:
    value = item["value"]
    if item["id"] == "funnel":
        stages = " > ".join(f"{k} {v:,}" for k, v in value["stages"].items())
        rates = ", ".join(
            f"{k} {_number(v, 'ratio', currency)}" for k, v in value["conversion"].items()
        )
        return f"{stages} | {rates}"
    if item["id"] == "stage_velocity_days":
        return ", ".join(f"{k} {_number(v, 'days', currency)}" for k, v in value.items()) or "-"
    if item["id"] == "cohort_comparison":
        from funnel.kpis import REGISTRY

        parts = []
        for metric, sides in value.items():
            unit = REGISTRY[metric].unit
            parts.append(
                f"{metric}: abm {_number(sides['abm'], unit, currency)}"
                f" / non_abm {_number(sides['non_abm'], unit, currency)}"
            )
        return "; ".join(parts)
    return ", ".join(f"{k} {v:,}" for k, v in value.items()) or "-"


def _basis(item: dict[str, Any], currency: str) -> str:
    if "numerator" in item:
        unit = "money" if item["unit"] == "money" else "count"
        return (
            f"{_number(item['numerator'], unit, currency)} / "
            f"{_number(item['denominator'], 'count', currency)}"
        )
    if "total" in item:
        return f"n={item['count']:,}, total {item['total']:,.2f}"
    if "count" in item and item["unit"] != "count":
        return f"n={item['count']:,}"
    if "by_position" in item:
        return ", ".join(f"{k} {v:,.2f}" for k, v in item["by_position"].items())
    return ""


def render_table(result: dict[str, Any], currency: str) -> str:
    """The result as text: one aligned block per stage, value then what it is made of."""
    rows_by_stage: dict[int, list[tuple[str, str, str, str]]] = {}
    for item in result["kpis"]:
        if item["unit"] == "map":
            value = _map_text(item, currency)
        else:
            value = _number(item["value"], item["unit"], currency)
        rows_by_stage.setdefault(item["stage"], []).append(
            (item["label"], value, _basis(item, currency), item["cohort"])
        )
    period, filters = result["period"], result["filters"]
    lines = [
        f"KPIs {period['from']} to {period['to']}  (cohort {filters['cohort']}, tier "
        f"{filters['tier'] or 'any'}, program {filters['program'] or 'any'}, owner "
        f"{filters['owner'] or 'any'})"
    ]
    all_rows = [row for rows in rows_by_stage.values() for row in rows]
    label_w = max((len(r[0]) for r in all_rows), default=0)
    value_w = max((len(r[1]) for r in all_rows if len(r[1]) <= 40), default=0)
    basis_w = max((len(r[2]) for r in all_rows), default=0)
    for stage in (1, 2, 3, 4, 5, 6, 0):
        if stage not in rows_by_stage:
            continue
        lines += ["", STAGE_TITLES[stage], "-" * len(STAGE_TITLES[stage])]
        for label, value, basis, cohort in rows_by_stage[stage]:
            if len(value) > value_w:  # maps: on their own line under the label
                lines.append(f"  {label:<{label_w}}  [{cohort}]")
                lines.append(f"      {value}")
            else:
                lines.append(
                    f"  {label:<{label_w}}  {value:>{value_w}}  {basis:<{basis_w}}  [{cohort}]"
                )
    return "\n".join(line.rstrip() for line in lines)


class Command(BaseCommand):
    help = "Compute every KPI of KPIS.md for a period and filters; print a table or JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="start", required=True, type=_date("--from"))
        parser.add_argument("--to", dest="end", required=True, type=_date("--to"))
        parser.add_argument("--tier", type=int, nargs="+", action="extend", default=[])
        parser.add_argument("--program", type=int, nargs="+", action="extend", default=[])
        parser.add_argument("--owner", type=int, nargs="+", action="extend", default=[])
        parser.add_argument("--cohort", choices=("abm", "non_abm", "all"), default=None)
        parser.add_argument("--kpi", dest="ids", nargs="+", action="extend", default=None)
        parser.add_argument("--json", action="store_true", help="Print the exact JSON result.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["start"] > options["end"]:
            raise CommandError(
                f"--from {options['start']} is after --to {options['end']}: give a period "
                "whose start is on or before its end."
            )
        for name in ("tier", "program", "owner"):
            if any(v <= 0 for v in options[name]):
                raise CommandError(f"--{name}: ids are positive integers.")
        from funnel.kpis import REGISTRY

        unknown = [i for i in options["ids"] or [] if i not in REGISTRY]
        if unknown:
            raise CommandError(f"--kpi: unknown KPI id(s) {', '.join(unknown)}.")
        result = compute(
            Period(options["start"], options["end"]),
            Filters(
                tier=tuple(options["tier"]),
                program=tuple(options["program"]),
                owner=tuple(options["owner"]),
                cohort=options["cohort"],
            ),
            ids=options["ids"],
        )
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2))
        else:
            self.stdout.write(render_table(result, settings.ABM_CURRENCY))
