"""The cache warmer in parts (#18): at 20,000 accounts a whole warm outlasts beat's minute
and, larger, the task's time limit, so it runs in parts, resumes where it stopped and
never runs twice at once."""

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from funnel.kpis import (
    DEFAULT_PRESET,
    Filters,
    attribution_version_model,
    compute,
    definitions_resolve,
    preset_period,
    program_attribution,
)
from reports import warm
from tests import factories as f

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the KPI cache and its warmer need PostgreSQL"
    ),
    pytest.mark.django_db(transaction=True),
]

ALL = [name for name, _step in warm.parts()]


@pytest.fixture(autouse=True)
def clear_cache():
    cache.clear()
    yield
    cache.clear()


def test_the_parts_start_with_what_the_dashboard_shows_and_name_each_stage():
    assert ALL[:3] == [f"period:{DEFAULT_PRESET}", "dashboard-lists", "dashboard-trends"]
    assert [name for name in ALL if name.startswith("stage:")] == [
        f"stage:{n}" for n in range(1, 7)
    ]
    assert len(ALL) == len(set(ALL)) == 15  # five presets, lists, trends, six stages, 2 pages


def test_a_warm_past_its_budget_stops_between_parts_and_the_next_goes_on():
    f.AccountFactory()
    first = warm.warm_kpi_cache(budget=0)  # the first part always runs, then the budget is spent
    assert first["parts"] == [f"period:{DEFAULT_PRESET}"]
    assert first["periods"] == 2
    assert first["left"] == ALL[1:]
    # Not warm yet: the next run does the rest and not the first part again.
    second = warm.warm_kpi_cache()
    assert second["version"] == first["version"]
    assert second["parts"] == ALL[1:]
    assert second["periods"] == 8 and second["left"] == []
    assert warm.warm_kpi_cache() == {"skipped": "already warm", "version": first["version"]}
    # Every part is cached: the dashboard's default period runs no KPI statement.
    with CaptureQueriesContext(connection) as queries:
        compute(preset_period(DEFAULT_PRESET), Filters(), ["target_accounts"])
    assert [q["sql"][:80] for q in queries if "FILTER (WHERE" in q["sql"]] == []


def test_a_write_between_runs_starts_the_parts_again():
    f.AccountFactory()
    first = warm.warm_kpi_cache(budget=0)
    f.AccountFactory()  # a new data version: what the first run cached is for the old one
    second = warm.warm_kpi_cache(budget=0)
    assert second["version"] > first["version"]
    assert second["parts"] == [f"period:{DEFAULT_PRESET}"]
    result = compute(preset_period(DEFAULT_PRESET), Filters(), ["target_accounts"])
    assert result["kpis"][0]["value"] == 2


def test_a_second_warm_while_one_runs_skips_and_computes_nothing():
    f.AccountFactory()
    cache.add(warm.LOCK_KEY, "another worker", timeout=60)  # a warm in progress elsewhere
    with CaptureQueriesContext(connection) as queries:
        done = warm.warm_kpi_cache()
    assert done["skipped"] == "another warm is running"
    assert len(queries) <= 2  # the data version only
    assert cache.get(warm.PROGRESS_KEY) is None
    cache.delete(warm.LOCK_KEY)  # it finished
    assert warm.warm_kpi_cache()["left"] == []
    assert cache.get(warm.LOCK_KEY) is None  # released after the run
    # Forced (the benches), a warm cache starts again from the first part.
    forced = warm.warm_kpi_cache(force=True, budget=0)
    assert forced["parts"] == [f"period:{DEFAULT_PRESET}"]


def test_the_programs_part_warms_the_programs_pages_credits(client, viewer):
    """The Programs page's credits under the default version's model are cached by the
    warmer: the first page after a write runs no attribution statement (#18), and shows
    the credits the attribution computes."""
    program = f.ProgramFactory(name="Webinars")
    account = f.AccountFactory(is_target=True)
    period = preset_period(DEFAULT_PRESET)
    f.TouchFactory(account=account, kind="form_fill", program=program, occurred_at=f.at(period.end))
    f.OpportunityFactory(account=account, created_on=period.end, amount=1234)
    warm.warm_kpi_cache()
    client.force_login(viewer)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("reports:program_list"))
    assert response.status_code == 200
    assert [q["sql"][:80] for q in queries if "WITH opps AS" in q["sql"]] == []
    rules = definitions_resolve()
    credits = program_attribution(period, Filters(), attribution_version_model(rules.params), rules)
    assert credits.programs[program.pk].pipeline == 1234
    assert "1,234" in response.content.decode()
