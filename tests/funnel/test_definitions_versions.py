"""Definitions versions: found by id or name, derived not edited, the default moved deliberately,
named by every result, version 1 reproducible, and the KPI cache kept apart per version."""

import datetime as dt
import json

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from funnel.admin import DefinitionsVersionForm
from funnel.definitions import (
    DefinitionsInUse,
    UnknownDefinitions,
    definitions_check_editable,
    definitions_default_set,
    definitions_derive,
    definitions_mark_used,
    definitions_resolve,
    definitions_versions,
    shipped_params,
)
from funnel.kpis import Filters, compute
from funnel.models import DefinitionsVersion
from tests.conftest import postgresql_only

from .kpi_fixtures import MARCH, make_customer, target, touch, won
from .kpi_fixtures import day as march

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/funnel/definitionsversion/"


def defaults() -> list[str]:
    return list(DefinitionsVersion.objects.filter(is_default=True).values_list("name", flat=True))


def fresh(name: str = "v2-test", **params) -> DefinitionsVersion:
    """A version derived from v2 that no result was computed under yet."""
    return definitions_derive(definitions_resolve("v2"), name=name, params=params)


def value(kpi_id: str, definitions=None, filters=None):
    result = compute(MARCH, filters or Filters(), ids=[kpi_id], definitions=definitions)
    return result["kpis"][0]["value"]


# --- resolve ---------------------------------------------------------------------------------


def test_the_shipped_versions_are_v1_and_v2_with_v2_the_default():
    names = [(v.name, v.generation, v.is_default) for v in definitions_versions()]
    assert names[:2] == [("v1", 1, False), ("v2", 2, True)]
    assert defaults() == ["v2"]
    v1, v2 = definitions_resolve("v1"), definitions_resolve("v2")
    assert v2.derived_from_id == v1.pk
    assert v1.params == v2.params == shipped_params()
    assert v2.params["gross_margin"] == 1.0 and v2.params["renewal_grace_days"] == 30


def test_resolve_by_name_id_object_or_none_in_one_query():
    v1 = DefinitionsVersion.objects.get(name="v1")
    with CaptureQueriesContext(connection) as queries:
        assert definitions_resolve("v1").pk == v1.pk
    assert len(queries) == 1
    assert definitions_resolve(v1.pk).name == "v1"
    assert definitions_resolve(str(v1.pk)).name == "v1"
    assert definitions_resolve(f" {v1.pk} ").name == "v1"
    assert definitions_resolve(v1) is v1
    assert definitions_resolve(None).name == "v2"  # the default
    assert definitions_resolve("").name == "v2"


@pytest.mark.parametrize("ref", ["v3", "V1", 999_999, "999999", "x" * 30])
def test_an_unknown_version_is_refused_naming_the_known_ones(ref):
    with pytest.raises(UnknownDefinitions) as raised:
        definitions_resolve(ref)
    assert isinstance(raised.value, LookupError)
    assert repr(ref) in str(raised.value)
    assert "known versions: v1, v2" in str(raised.value)


def test_the_shipped_versions_come_back_in_an_emptied_table():
    DefinitionsVersion.objects.update(is_default=False, derived_from=None)
    DefinitionsVersion.objects.all().delete()
    assert definitions_resolve(None).name == "v2"
    assert [(v.name, v.is_default) for v in definitions_versions()] == [
        ("v1", False),
        ("v2", True),
    ]


# --- derive --------------------------------------------------------------------------------


def test_derive_changes_the_named_parameters_and_keeps_the_rest():
    v2 = definitions_resolve("v2")
    derived = definitions_derive(
        v2, name="v2-margin", params={"gross_margin": 0.8}, note="Margin from finance."
    )

    assert derived.pk != v2.pk
    assert (derived.generation, derived.derived_from_id, derived.note) == (
        2,
        v2.pk,
        "Margin from finance.",
    )
    assert derived.params == {**v2.params, "gross_margin": 0.8}
    assert derived.is_default is False and derived.used_at is None
    assert defaults() == ["v2"]  # deriving never moves the default
    v2.refresh_from_db()
    assert v2.params["gross_margin"] == 1.0  # the base is untouched


def test_derive_can_change_the_generation_but_only_to_a_known_one():
    back = definitions_derive(definitions_resolve("v2"), name="v2-as-v1", generation=1)
    assert back.generation == 1
    with pytest.raises(ValueError, match="Generation 3"):
        definitions_derive(definitions_resolve("v2"), name="v3", generation=3)


def test_derive_refuses_an_unknown_parameter_naming_it():
    with pytest.raises(ValueError, match="gross_margn"):
        definitions_derive(definitions_resolve("v2"), name="typo", params={"gross_margn": 0.5})
    assert not DefinitionsVersion.objects.filter(name="typo").exists()


# --- immutable once used ---------------------------------------------------------------------


def test_a_version_becomes_immutable_once_a_result_is_computed_under_it():
    version = fresh()
    definitions_check_editable(version)  # no result yet: editable

    result = compute(MARCH, Filters(), ids=["target_accounts"], definitions="v2-test")

    assert result["definitions"]["name"] == "v2-test"
    version.refresh_from_db()
    first_use = version.used_at
    assert first_use is not None
    with pytest.raises(DefinitionsInUse, match="derive a new version"):
        definitions_check_editable(version)
    compute(MARCH, Filters(), ids=["target_accounts"], definitions=version.pk)
    version.refresh_from_db()
    assert version.used_at == first_use  # the first use stays recorded


def test_mark_used_writes_once():
    version = fresh()
    with CaptureQueriesContext(connection) as queries:
        definitions_mark_used(version)
        definitions_mark_used(version)
    assert len(queries) == 1 and queries[0]["sql"].startswith("UPDATE")


# --- the default, set deliberately ----------------------------------------------------------


def test_the_default_moves_only_when_set_and_stays_unique():
    margin = fresh("v2-margin", gross_margin=0.5)
    make_customer(dt.date(2022, 1, 1))
    won(target(), march(10), amount=12_000, created_on=march(1))  # ACV 12,000; no churn: 10 y

    assert compute(MARCH, Filters(), ids=["target_accounts"])["definitions"]["name"] == "v2"
    assert value("customer_lifetime_value") == 120000.0  # 12,000 x 1.0 x 10

    definitions_default_set(margin)

    assert defaults() == ["v2-margin"]
    assert compute(MARCH, Filters(), ids=["target_accounts"])["definitions"]["name"] == "v2-margin"
    assert value("customer_lifetime_value") == 60000.0  # 12,000 x 0.5 x 10

    definitions_derive(margin, name="v2-margin-b", params={"gross_margin": 0.6}, make_default=True)
    assert defaults() == ["v2-margin-b"]


# --- the admin -------------------------------------------------------------------------------


def _form_data(version: DefinitionsVersion, **changes) -> dict:
    data = {
        "name": version.name,
        "generation": version.generation,
        "params": json.dumps(version.params),
        "derived_from": version.derived_from_id or "",
        "note": version.note,
    }
    return {**data, **changes}


def test_admin_form_refuses_to_edit_a_used_version():
    v2 = definitions_resolve("v2")
    definitions_mark_used(v2)
    params = {**v2.params, "gross_margin": 0.7}

    form = DefinitionsVersionForm(data=_form_data(v2, params=json.dumps(params)), instance=v2)

    assert not form.is_valid()
    assert "derive a new version" in str(form.errors)
    v2.refresh_from_db()
    assert v2.params["gross_margin"] == 1.0


def test_admin_form_edits_an_unused_version_and_checks_its_parameters():
    version = fresh()
    params = {**version.params, "gross_margin": 0.7}
    form = DefinitionsVersionForm(
        data=_form_data(version, params=json.dumps(params)), instance=version
    )
    assert form.is_valid(), form.errors
    form.save()
    version.refresh_from_db()
    assert version.params["gross_margin"] == 0.7

    missing = {k: v for k, v in params.items() if k != "influence_days"}
    form = DefinitionsVersionForm(
        data=_form_data(version, params=json.dumps(missing)), instance=version
    )
    assert not form.is_valid()
    assert "missing influence_days" in str(form.errors["params"])
    extra = {**params, "mystery": 1}
    form = DefinitionsVersionForm(
        data=_form_data(version, params=json.dumps(extra)), instance=version
    )
    assert "unknown mystery" in str(form.errors["params"])


def test_admin_change_page_of_a_used_version_saves_nothing(admin_user):
    v2 = definitions_resolve("v2")
    definitions_mark_used(v2)
    client = Client()
    client.force_login(admin_user)

    page = client.get(f"{CHANGELIST}{v2.pk}/change/")
    assert page.status_code == 200
    assert b'name="params"' not in page.content  # shown read-only

    response = client.post(f"{CHANGELIST}{v2.pk}/change/", {"note": "quietly edited"})

    assert response.status_code == 200  # the form again, with the refusal
    assert "derive a new version" in response.content.decode()
    v2.refresh_from_db()
    assert v2.note != "quietly edited"


def test_admin_actions_derive_and_make_default(admin_user):
    v2 = definitions_resolve("v2")
    client = Client()
    client.force_login(admin_user)

    client.post(CHANGELIST, {"action": "derive", "_selected_action": [v2.pk]}, follow=True)
    client.post(CHANGELIST, {"action": "derive", "_selected_action": [v2.pk]}, follow=True)

    derived = DefinitionsVersion.objects.filter(derived_from=v2).order_by("pk")
    assert [d.name for d in derived] == ["v2.1", "v2.2"]
    assert all(d.params == v2.params and not d.is_default for d in derived)
    assert defaults() == ["v2"]

    chosen = derived[0]
    client.post(CHANGELIST, {"action": "make_default", "_selected_action": [chosen.pk]})
    assert defaults() == ["v2.1"]
    both = [v2.pk, chosen.pk]
    refused = client.post(
        CHANGELIST, {"action": "make_default", "_selected_action": both}, follow=True
    )
    assert "Select exactly one version" in refused.content.decode()
    assert defaults() == ["v2.1"]


# --- results name their version; version 1 stays reproducible ---------------------------------


def _differing_world() -> None:
    """A world whose figures differ by version: an aggregated impression row."""
    touch(target(), "ad_impression", march(5), quantity=1200)


def test_every_result_names_the_version_and_states_its_definition():
    v1, v2 = definitions_resolve("v1"), definitions_resolve("v2")
    first = compute(MARCH, Filters(), ids=["influenced_pipeline"], definitions="v1")
    second = compute(MARCH, Filters(), ids=["influenced_pipeline"], definitions=v2.pk)

    assert first["definitions"] == {"id": v1.pk, "name": "v1", "generation": 1}
    assert second["definitions"] == {"id": v2.pk, "name": "v2", "generation": 2}
    assert "of a program" not in first["kpis"][0]["definition"]
    assert "of a program" in second["kpis"][0]["definition"]
    assert "90 days" in first["kpis"][0]["definition"]
    derived = fresh("v2-45", influence_days=45)
    third = compute(MARCH, Filters(), ids=["influenced_pipeline"], definitions=derived)
    assert "45 days" in third["kpis"][0]["definition"]


def test_version_1_is_reproducible_by_name_as_when_it_was_the_default():
    _differing_world()
    make_customer(dt.date(2023, 1, 1), churned_on=march(3))
    by_name = compute(MARCH, Filters(), definitions="v1")

    definitions_default_set(definitions_resolve("v1"))
    as_default = compute(MARCH, Filters())

    assert by_name == as_default
    items = {k["id"]: k["value"] for k in by_name["kpis"]}
    assert items["ad_impressions"] == 1  # one row in v1
    assert "funnel_flow" not in items
    assert value("ad_impressions", definitions="v2") == 1200


def test_the_api_takes_the_version_by_name_or_id_and_names_it(viewer_api):
    _differing_world()
    v1 = definitions_resolve("v1")
    march_range = {"from": "2024-03-01", "to": "2024-03-31", "id": "ad_impressions"}

    default = viewer_api.get("/api/v1/kpis/", march_range).json()
    by_name = viewer_api.get("/api/v1/kpis/", {**march_range, "definitions": "v1"}).json()
    by_id = viewer_api.get("/api/v1/kpis/", {**march_range, "definitions": v1.pk}).json()
    one = viewer_api.get("/api/v1/kpis/ad_impressions/", {**march_range, "definitions": "v1"})

    assert default["definitions"]["name"] == "v2"
    assert default["kpis"][0]["value"] == 1200
    assert (
        by_name["definitions"]
        == by_id["definitions"]
        == {
            "id": v1.pk,
            "name": "v1",
            "generation": 1,
        }
    )
    assert by_name["kpis"][0]["value"] == by_id["kpis"][0]["value"] == 1
    assert one.json()["kpis"][0]["value"] == 1
    bad = viewer_api.get("/api/v1/kpis/", {**march_range, "definitions": "v9"})
    assert bad.status_code == 400
    assert "v9" in json.dumps(bad.json())


def test_the_kpis_command_takes_definitions_v1(capsys):
    _differing_world()
    args = ["kpis", "--from", "2024-03-01", "--to", "2024-03-31", "--kpi", "ad_impressions"]

    call_command(*args, "--definitions", "v1", "--json")
    v1 = json.loads(capsys.readouterr().out)
    call_command(*args, "--json")
    v2 = json.loads(capsys.readouterr().out)
    call_command(*args, "--definitions", "v1")
    table = capsys.readouterr().out

    assert (v1["definitions"]["name"], v1["kpis"][0]["value"]) == ("v1", 1)
    assert (v2["definitions"]["name"], v2["kpis"][0]["value"]) == ("v2", 1200)
    assert "definitions v1" in table
    with pytest.raises(Exception, match="--definitions: No definitions version 'v9'"):
        call_command(*args, "--definitions", "v9")


# --- the cache is keyed by the version --------------------------------------------------------


@pytest.fixture
def clear_cache():
    cache.clear()
    yield
    cache.clear()


def _statements(queries) -> int:
    return sum(q["sql"] not in ("BEGIN", "COMMIT") for q in queries)


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_cached_results_are_kept_apart_per_version(clear_cache):
    definitions_versions()  # the shipped versions, after an earlier test's flush
    _differing_world()
    make_customer(dt.date(2022, 1, 1))
    won(target(), march(10), amount=12_000, created_on=march(1))
    margin = fresh("v2-margin", gross_margin=0.5)

    assert value("ad_impressions", "v1") == 1
    assert value("ad_impressions", "v2") == 1200  # not v1's cached figure
    assert value("customer_lifetime_value", "v2") == 120000.0
    assert value("customer_lifetime_value", margin.pk) == 60000.0  # not v2's
    for ref, kpi_id, expected in [
        ("v1", "ad_impressions", 1),
        ("v2", "ad_impressions", 1200),
        (None, "ad_impressions", 1200),  # the default is v2: its cache entry
        ("v2", "customer_lifetime_value", 120000.0),
        (margin.pk, "customer_lifetime_value", 60000.0),
    ]:
        with CaptureQueriesContext(connection) as queries:
            assert value(kpi_id, ref) == expected, (ref, kpi_id)
        assert _statements(queries) == 1, (ref, kpi_id)  # served from the cache

    definitions_default_set(definitions_resolve("v1"))
    assert value("ad_impressions") == 1  # the new default's figure, not v2's cached one
