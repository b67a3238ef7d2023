"""Score weights and windows changed by an admin (issue 20 item 2): checked naming the field,
previewed set-based on the current data, saved as a new version, old results reproducible.

The world, as of D = 2024-03-31 (windows end 2024-04-01 00:00), period March 2024, under v2
(engagement window 90 days, form_fill 8, meeting 10; relationship meeting 8, half-life 30,
full scale 60; surge factor 2 over 8 weeks). Four target accounts:

  A  meeting 2024-03-02 00:00 (age 30 d: decay 0.5), form_fill 2024-03-30
       engagement 10 + 8 = 18; relationship 8 x 0.5 = 4 points x 100/60 = 6.6667
  B  web_visit 2024-03-20                          engagement 1, stage engaged
  C  web_visit 2024-02-15 (45 days before the end)  engagement 1, stage engaged
  S  intent "crm" 10 a week for the 8 weeks from 2024-01-29, then 25 on 2024-03-25:
       25 >= 2 x 10, a surge (stage target, no touches)

The change: form_fill 8 -> 20, relationship meeting 8 -> 16, engagement window 90 -> 30,
surge factor 2 -> 3. Then:
  A  engagement 10 + 20 = 30 (the meeting on 2024-03-02 00:00 is the window's first instant);
     relationship 16 x 0.5 = 8 points = 13.3333
  B  unchanged (1, engaged)
  C  the visit falls out of the 30-day window: engagement 0, stage engaged -> target
  S  25 < 3 x 10: no surge
So 2 engagement scores, 1 relationship score, 0 research grades, 1 surge stopped, 1 stage.
relationship_score_avg over the 4 targets (to the cent): 6.6667 / 4 = 1.67 -> 13.3333 / 4 = 3.33;
intent_surging_accounts 1 -> 0.
"""

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from funnel.admin import DefinitionsVersionForm
from funnel.definitions import (
    DefinitionsInvalid,
    definitions_derive,
    definitions_mark_used,
    definitions_resolve,
    score_params_errors,
    shipped_params,
)
from funnel.kpis import SCORE_KPIS, Filters, compute, weights_preview, weights_save
from funnel.models import DefinitionsVersion
from funnel.snapshots import snapshot_queryset
from tests.factories import IntentSignalFactory

from .kpi_fixtures import MARCH, target, touch, weekly_signals

pytestmark = pytest.mark.django_db

D = dt.date(2024, 3, 31)
REL_A_OLD = 8 * 0.5 * 100 / 60
REL_A_NEW = 16 * 0.5 * 100 / 60


def world() -> dict[str, int]:
    a, b, c, s = target(), target(), target(), target()
    touch(a, "meeting", dt.date(2024, 3, 2), hour=0)
    touch(a, "form_fill", dt.date(2024, 3, 30))
    touch(b, "web_visit", dt.date(2024, 3, 20))
    touch(c, "web_visit", dt.date(2024, 2, 15))
    weekly_signals(s, "crm", dt.date(2024, 1, 29), 8, 10)
    IntentSignalFactory(account=s, topic="crm", week=dt.date(2024, 3, 25), score=Decimal(25))
    return {"A": a.pk, "B": b.pk, "C": c.pk, "S": s.pk}


def change(params: dict) -> dict:
    """The module docstring's change, applied to ``params``."""
    return {
        "engagement_weights": {**params["engagement_weights"], "form_fill": 20.0},
        "relationship_weights": {**params["relationship_weights"], "meeting": 16.0},
        "engagement_window_days": 30,
        "intent_surge_factor": 3.0,
    }


def snapshot_rows(params: dict) -> dict[int, dict]:
    rows = snapshot_queryset(D, 0, 2**62, params=params)
    return {r["pk"]: r for r in rows}


# --- checks, naming the field --------------------------------------------------------------


def test_the_shipped_parameters_pass_every_check():
    assert score_params_errors(shipped_params()) == {}


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        ({"engagement_weights": {"ad_click": -1}}, "engagement_weights.ad_click", "0 or more"),
        ({"engagement_weights": {"ad_click": "2"}}, "engagement_weights.ad_click", "a number"),
        ({"engagement_weights": {"ad_click": True}}, "engagement_weights.ad_click", "a number"),
        ({"engagement_weights": {"fax": 1.0}}, "engagement_weights.fax", "not an engagement"),
        (
            {"engagement_weights": {"ad_impression": 1.0}},
            "engagement_weights.ad_impression",
            "not an engagement kind",
        ),
        ({"relationship_weights": {"pigeon": 1}}, "relationship_weights.pigeon", "a touch kind"),
        ({"relationship_weights": [1, 2]}, "relationship_weights", "an object"),
        ({"engagement_window_days": 0}, "engagement_window_days", "whole number of 1 or more"),
        ({"engagement_window_days": 30.5}, "engagement_window_days", "whole number"),
        ({"relationship_half_life_days": 0}, "relationship_half_life_days", "above 0"),
        ({"intent_surge_factor": "x"}, "intent_surge_factor", "above 0"),
        ({"engagement_default_weight": -0.5}, "engagement_default_weight", "0 or more"),
        ({"research_ratio_thresholds": [2, 1, 3]}, "research_ratio_thresholds", "increasing"),
        ({"research_ratio_thresholds": [1, 2]}, "research_ratio_thresholds", "3 numbers"),
    ],
)
def test_a_bad_parameter_is_refused_naming_it(changes, field, says):
    params = {**shipped_params(), **changes}
    errors = score_params_errors(params)
    assert list(errors) == [field]
    assert field in errors[field] and says in errors[field]
    with pytest.raises(DefinitionsInvalid) as raised:
        definitions_derive(definitions_resolve("v2"), name="bad", params=changes)
    assert raised.value.errors == errors
    assert not DefinitionsVersion.objects.filter(name="bad").exists()


def test_weight_zero_is_allowed_and_several_errors_are_all_named():
    params = {
        **shipped_params(),
        "engagement_weights": {"ad_click": 0, "web_visit": -2, "x": 1},
        "intent_baseline_weeks": -1,
    }
    assert sorted(score_params_errors(params)) == [
        "engagement_weights.web_visit",
        "engagement_weights.x",
        "intent_baseline_weeks",
    ]


def test_the_admin_form_names_each_bad_parameter():
    version = definitions_derive(definitions_resolve("v2"), name="v2-edit")
    params = {
        **version.params,
        "engagement_weights": {**version.params["engagement_weights"], "ad_click": -3},
        "relationship_weights": {**version.params["relationship_weights"], "pigeon": 1},
    }
    data = {
        "name": version.name,
        "generation": version.generation,
        "params": json.dumps(params),
        "derived_from": version.derived_from_id,
        "note": "",
    }
    form = DefinitionsVersionForm(data=data, instance=version)
    assert not form.is_valid()
    text = " ".join(form.errors["params"])
    assert "engagement_weights.ad_click must be 0 or more (got -3)" in text
    assert "relationship_weights.pigeon: 'pigeon' is not a touch kind" in text


# --- the preview ---------------------------------------------------------------------------


def test_the_preview_counts_the_accounts_and_kpis_that_would_move():
    world()
    v2 = definitions_resolve("v2")
    preview = weights_preview(v2, change(v2.params), MARCH, SCORE_KPIS)

    changes = preview.accounts
    assert changes.day == D
    assert (changes.accounts, changes.engagement_score, changes.relationship_score) == (4, 2, 1)
    assert (changes.research_grade, changes.surge_started, changes.surge_stopped) == (0, 0, 1)
    assert changes.stage == 1
    assert preview.changed_params == [
        "engagement_weights.form_fill",
        "engagement_window_days",
        "intent_surge_factor",
        "relationship_weights.meeting",
    ]
    moves = {m.id: m for m in preview.kpis}
    assert list(moves) == list(SCORE_KPIS)
    assert (moves["intent_surging_accounts"].old, moves["intent_surging_accounts"].new) == (1, 0)
    avg = moves["relationship_score_avg"]
    assert avg.old == round(REL_A_OLD / 4, 2) == 1.67
    assert avg.new == round(REL_A_NEW / 4, 2) == 3.33
    assert avg.changed and not moves["research_intensity_accounts"].changed
    assert avg.old_text and avg.new_text


def test_the_preview_agrees_with_the_snapshots_either_version_would_write():
    ids = world()
    v2 = definitions_resolve("v2")
    old = snapshot_rows(v2.params)
    new = snapshot_rows({**v2.params, **change(v2.params)})
    assert round(old[ids["A"]]["snap_engagement"], 2) == 18
    assert round(new[ids["A"]]["snap_engagement"], 2) == 30
    assert new[ids["A"]]["snap_relationship"] == pytest.approx(REL_A_NEW)
    assert (old[ids["C"]]["snap_stage"], new[ids["C"]]["snap_stage"]) == ("engaged", "target")
    assert (old[ids["S"]]["snap_surge"], new[ids["S"]]["snap_surge"]) == (True, False)


def test_no_change_previews_no_change():
    world()
    v2 = definitions_resolve("v2")
    preview = weights_preview(v2, {}, MARCH, SCORE_KPIS)
    a = preview.accounts
    assert a.accounts == 4
    assert (a.engagement_score, a.relationship_score, a.research_grade, a.surge, a.stage) == (
        0,
        0,
        0,
        0,
        0,
    )
    assert not any(m.changed for m in preview.kpis) and preview.changed_params == []


def test_an_empty_database_previews_zeros():
    v2 = definitions_resolve("v2")
    preview = weights_preview(v2, change(v2.params), MARCH, SCORE_KPIS)
    assert preview.accounts.accounts == 0 and preview.accounts.stage == 0


def test_a_bad_change_is_refused_before_any_computation():
    v2 = definitions_resolve("v2")
    with CaptureQueriesContext(connection) as queries, pytest.raises(DefinitionsInvalid) as raised:
        weights_preview(v2, {"engagement_weights": {"meeting": -1}}, MARCH, SCORE_KPIS)
    assert list(raised.value.errors) == ["engagement_weights.meeting"]
    assert len(queries) == 0


def _preview_queries(django_assert_num_queries, expected: int) -> None:
    v2 = definitions_resolve("v2")
    with django_assert_num_queries(expected):
        weights_preview(v2, change(v2.params), MARCH, SCORE_KPIS)


#: The KPIs' one source under each version (the same plan twice), the accounts' one
#: statement, and the high-value page patterns once for each of those three.
PREVIEW_QUERIES = 6


def test_the_preview_runs_a_fixed_number_of_queries_whatever_the_data(django_assert_num_queries):
    world()
    definitions_mark_used(definitions_resolve("v2"))  # a used version, as in production
    _preview_queries(django_assert_num_queries, PREVIEW_QUERIES)
    for _ in range(5):
        world()
    _preview_queries(django_assert_num_queries, PREVIEW_QUERIES)


# --- saving: a new version, the old one reproducible ------------------------------------------


def test_saving_makes_a_new_version_and_old_results_stay_reproducible():
    world()
    v2 = definitions_resolve("v2")
    before = compute(MARCH, Filters(), ids=list(SCORE_KPIS), definitions="v2")
    v2_params = dict(v2.params)

    saved = weights_save(v2, change(v2.params), name="v2-heavier-forms")

    v2.refresh_from_db()
    assert v2.params == v2_params  # never edited
    assert saved.pk != v2.pk and saved.derived_from_id == v2.pk
    assert saved.params["engagement_weights"]["form_fill"] == 20.0
    assert "engagement_weights.form_fill" in saved.note
    assert definitions_resolve(None).name == "v2"  # the default moves only when asked
    after = compute(MARCH, Filters(), ids=list(SCORE_KPIS), definitions="v2")
    assert after == before
    under_new = compute(MARCH, Filters(), ids=list(SCORE_KPIS), definitions=saved)
    values = {i["id"]: i["value"] for i in under_new["kpis"]}
    assert values["relationship_score_avg"] == round(REL_A_NEW / 4, 2) == 3.33
    assert values["intent_surging_accounts"] == 0
    assert under_new["definitions"]["name"] == "v2-heavier-forms"


def test_saving_as_default_moves_the_default_deliberately():
    world()
    v2 = definitions_resolve("v2")
    saved = weights_save(v2, change(v2.params), name="v2-new", make_default=True)
    assert definitions_resolve(None).pk == saved.pk
    assert list(DefinitionsVersion.objects.filter(is_default=True)) == [saved]


def test_saving_a_bad_change_saves_nothing():
    v2 = definitions_resolve("v2")
    with pytest.raises(DefinitionsInvalid):
        weights_save(v2, {"intent_surge_factor": -2}, name="v2-bad")
    assert not DefinitionsVersion.objects.filter(name="v2-bad").exists()


def test_the_admin_change_page_answers_a_bad_weight_naming_it(admin_user):
    version = definitions_derive(definitions_resolve("v2"), name="v2-admin")
    params = {
        **version.params,
        "engagement_weights": {**version.params["engagement_weights"], "meeting": "ten"},
    }
    client = Client()
    client.force_login(admin_user)
    response = client.post(
        f"/admin/funnel/definitionsversion/{version.pk}/change/",
        {
            "name": version.name,
            "generation": version.generation,
            "params": json.dumps(params),
            "derived_from": version.derived_from_id,
            "note": "",
        },
    )
    assert response.status_code == 200  # the form again, with the message
    assert "engagement_weights.meeting must be a number (got &#x27;ten&#x27;)." in (
        response.content.decode()
    )
    version.refresh_from_db()
    assert version.params["engagement_weights"]["meeting"] == 10.0
