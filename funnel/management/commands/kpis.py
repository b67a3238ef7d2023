"""``manage.py kpis``: the KPI catalogue for a period, as an aligned table or as JSON."""

import datetime as dt
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from funnel.kpis import (
    REGISTRY,
    STAGE_TITLES,
    Filters,
    PeriodError,
    UnknownDefinitions,
    compute,
    definitions_resolve,
    format_basis,
    format_map,
    format_value,
    period_between,
    spec_for,
    unknown_filter_ids,
)


def _date(option: str):
    def parse(text: str) -> dt.date:
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise CommandError(f"{option}: {text!r} is not a date (use YYYY-MM-DD).") from None

    return parse


def _number(value: Any, unit: str) -> str:
    return format_value(value, unit) or "-"


def _map_text(item: dict[str, Any]) -> str:
    value = item["value"]
    if item["id"] == "funnel":
        stages = " > ".join(f"{k} {_number(v, 'count')}" for k, v in value["stages"].items())
        rates = ", ".join(f"{k} {_number(v, 'ratio')}" for k, v in value["conversion"].items())
        return f"{stages} | {rates}"
    if item["id"] == "cohort_comparison":
        parts = []
        for metric, sides in value.items():
            unit = REGISTRY[metric].unit
            parts.append(
                f"{metric}: abm {_number(sides['abm'], unit)} / non_abm "
                f"{_number(sides['non_abm'], unit)}"
            )
        return "; ".join(parts)
    return ", ".join(f"{k} {v or '-'}" for k, v in format_map(item)) or "-"


def _basis(item: dict[str, Any]) -> str:
    if "by_position" in item:
        return ", ".join(f"{k} {_number(v, 'count')}" for k, v in item["by_position"].items())
    return format_basis(item)


def render_table(result: dict[str, Any]) -> str:
    """The result as text: one aligned block per stage, value then what it is made of."""
    rows_by_stage: dict[int, list[tuple[str, str, str, str]]] = {}
    for item in result["kpis"]:
        value = _map_text(item) if item["unit"] == "map" else _number(item["value"], item["unit"])
        rows_by_stage.setdefault(item["stage"], []).append(
            (item["label"], value, _basis(item), item["cohort"])
        )
    period, filters = result["period"], result["filters"]
    rules = result.get("definitions") or {}
    lines = [
        f"KPIs {period['from']} to {period['to']}  (definitions {rules.get('name', '?')}, "
        f"cohort {filters['cohort']}, tier "
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
        title = f"Stage {stage} - {STAGE_TITLES[stage]}" if stage else STAGE_TITLES[stage]
        lines += ["", title, "-" * len(title)]
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
        parser.add_argument(
            "--from", dest="start", type=_date("--from"), help="Default: 89 days before --to."
        )
        parser.add_argument("--to", dest="end", type=_date("--to"), help="Default: yesterday.")
        parser.add_argument("--tier", type=int, nargs="+", action="extend", default=[])
        parser.add_argument("--program", type=int, nargs="+", action="extend", default=[])
        parser.add_argument("--owner", type=int, nargs="+", action="extend", default=[])
        parser.add_argument("--cohort", choices=("abm", "non_abm", "all"), default=None)
        parser.add_argument(
            "--list",
            dest="list_id",
            type=int,
            default=None,
            help="An account list id: its members as of --to stand in for the target list.",
        )
        parser.add_argument("--kpi", dest="ids", nargs="+", action="extend", default=None)
        parser.add_argument(
            "--definitions",
            default=None,
            help="The KPI definitions version, by name (v1, v2, ...) or id; default: the "
            "version in force.",
        )
        parser.add_argument("--json", action="store_true", help="Print the exact JSON result.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            period = period_between(options["start"], options["end"], labels=("--from", "--to"))
        except PeriodError as exc:
            raise CommandError(
                f"{exc.message}: give a period whose start is on or before its end."
            ) from None
        for name in ("tier", "program", "owner"):
            if any(v <= 0 for v in options[name]):
                raise CommandError(f"--{name}: ids are positive integers.")
        filters = Filters(
            tier=tuple(options["tier"]),
            program=tuple(options["program"]),
            owner=tuple(options["owner"]),
            cohort=options["cohort"],
            list_id=options["list_id"],
        )
        for name, ids in unknown_filter_ids(filters).items():
            raise CommandError(f"--{name}: no {name} has id {', '.join(map(str, ids))}.")
        unknown = [i for i in options["ids"] or [] if i not in REGISTRY]
        if unknown:
            raise CommandError(f"--kpi: unknown KPI id(s) {', '.join(unknown)}.")
        try:
            rules = definitions_resolve(options["definitions"])
        except UnknownDefinitions as exc:
            raise CommandError(f"--definitions: {exc}") from None
        unavailable = [i for i in options["ids"] or [] if spec_for(i, rules.generation) is None]
        if unavailable:
            raise CommandError(
                f"--kpi: {', '.join(unavailable)} not defined in definitions {rules.name}."
            )
        result = compute(period, filters, ids=options["ids"], definitions=rules)
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2))
        else:
            self.stdout.write(render_table(result))
