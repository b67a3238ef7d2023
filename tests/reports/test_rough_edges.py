"""Rough edges of #19 item 6: one set of stage names, one precision per column, no unit
said twice, and no change shown against a comparison period before the data starts."""

import datetime as dt
import re
from decimal import Decimal
from types import SimpleNamespace

import pytest

from funnel.choices import STAGE_NAMES, Stage, stage_name
from funnel.kpis import catalogue, format_map
from reports import tables
from reports.templatetags.report_tags import STAGE_LABELS, flow_label
from tests.reports.test_pages import MARCH, body, build_world

#: KPIS.md's stage ladder, by the names the product shows.
LADDER_NAMES = ["Target", "Engaged", "Opportunity", "Customer", "Retained", "Expanded"]


def test_one_set_of_stage_names_from_the_spec_ladder():
    assert [STAGE_NAMES[s] for s in Stage.values if s != Stage.NONE] == LADDER_NAMES
    assert STAGE_NAMES[Stage.NONE] == "Not in the funnel"  # never a stage called "None"
    assert STAGE_LABELS is STAGE_NAMES  # the funnel chart and velocity read the same names
    assert stage_name("customer") == "Customer" and stage_name("") == ""
    assert flow_label("opportunity_to_customer") == "Opportunity → Customer"
    velocity = {"id": "stage_velocity_days", "value": {"engaged": 8.0, "customer": 30.5}}
    assert format_map(velocity) == [("Engaged", "8.0 days"), ("Customer", "30.5 days")]
    flow = {"id": "funnel_flow", "value": {"target_to_engaged": 0.25}}
    assert format_map(flow) == [("Target → Engaged", "25.0 %")]


def _account(stage: str, engagement) -> SimpleNamespace:
    return SimpleNamespace(
        pk=1,
        name="Acme",
        domain="acme.test",
        tier=None,
        fit_grade="A",
        owner=None,
        snap_stage=stage,
        engagement_score=engagement,
        relationship_score=Decimal("12"),
    )


def _cells(table) -> list[list[str]]:
    return [[re.sub(r"<[^>]+>", "", str(c.html)) for c in row] for row in table.rows]


def test_drill_tables_name_stages_and_keep_one_precision_per_column():
    rows = [_account("customer", Decimal("103")), _account("none", Decimal("93.50"))]
    rows.append(_account("retained", Decimal("263.5")))
    rq = SimpleNamespace(with_params=lambda **extra: "")
    shown = _cells(tables.DRILL_ACCOUNTS.render(rows, rq=rq))
    headers = [c.label for c in tables.DRILL_ACCOUNTS.columns if c.page]
    stage, engagement = headers.index("Stage"), headers.index("Engagement")
    assert [r[stage] for r in shown] == ["Customer", "Not in the funnel", "Retained"]
    assert [r[engagement] for r in shown] == ["103.0", "93.5", "263.5"]
    csv_stage = next(c for c in tables.DRILL_ACCOUNTS.columns if c.name == "stage")
    assert csv_stage.value(rows[0]) == "Customer"  # the CSV says the same name


def test_a_count_column_has_one_precision():
    minutes = tables.Column("contribution", "Content minutes", lambda r: r, "count")
    table = tables.Table([tables.Column("id", "Id", lambda r: "x"), minutes])
    assert [r[1] for r in _cells(table.render([103, Decimal("93.50"), 263.5]))] == [
        "103.0",
        "93.5",
        "263.5",
    ]
    assert [r[1] for r in _cells(table.render([103, 1200]))] == ["103", "1,200"]


@pytest.mark.parametrize("generation", [1, 2])
def test_no_kpi_label_repeats_the_unit_its_value_shows(generation):
    for spec in catalogue(generation):
        if spec.unit == "days" or spec.id == "stage_velocity_days":
            assert "days" not in spec.label.lower(), spec.id  # "128.1 days" says it
    assert "days" not in [c.label.lower() for c in tables.DRILL_OPPORTUNITIES.columns]


@pytest.mark.django_db
def test_a_comparison_period_before_the_data_says_so(client, viewer):
    build_world(3)  # data from March 5, 2024 (the first opportunity; touches March 10)
    client.force_login(viewer)
    march = body(client.get(f"/?{MARCH}"))
    assert "starts before the data does" in march
    assert "first touch or opportunity on Mar 5, 2024" in march
    assert "no earlier data to compare" in march
    cards = march[march.index('class="cards six"') : march.index('id="months-h"')]
    assert not re.search(r"[+−-]\d+\.\d %", cards)  # no change against an empty period
    may = body(client.get("/?from=2024-05-01&to=2024-05-31"))  # compared with April
    assert "starts before the data does" not in may
    assert "no earlier data to compare" not in may


def test_data_start_is_the_earliest_touch_or_opportunity(db):
    from reports.selectors import data_start

    assert data_start() is None
    build_world(3)
    assert data_start() == dt.date(2024, 3, 5)
