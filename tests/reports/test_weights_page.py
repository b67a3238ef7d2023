"""The score weights page (issue 20 item 2): admins only; edit -> preview -> save as a new
version; bad values answered on the page naming the field; a pinned number of queries.

The world is dated relative to today (the page previews the default period, the 90 days to
yesterday): one target account with a form fill yesterday (engagement 8 under v2), one
with a web visit yesterday (engagement 1). Form fill 8 -> 20 changes one engagement score.
"""

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from funnel.definitions import definitions_mark_used, definitions_resolve
from funnel.models import DefinitionsVersion
from reports.weights import WeightsForm
from tests.factories import AccountFactory, TouchFactory

pytestmark = pytest.mark.django_db

URL = "/weights/"


def world() -> None:
    noon = timezone.make_aware(
        dt.datetime.combine(timezone.localdate() - dt.timedelta(days=1), dt.time(12))
    )
    TouchFactory(account=AccountFactory(is_target=True), kind="form_fill", occurred_at=noon)
    TouchFactory(account=AccountFactory(is_target=True), kind="web_visit", occurred_at=noon)


def form_data(**changes) -> dict:
    """The page's form as it loads for v2, with ``changes``."""
    form = WeightsForm(base=definitions_resolve("v2"))
    data = {name: form[name].value() or "" for name in form.fields}
    data["make_default"] = ""
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_only_admins_reach_the_page(request, role):
    client = signed_in(request.getfixturevalue(role))
    assert client.get(URL).status_code == 403
    assert client.post(URL, form_data(preview="1")).status_code == 403


def test_the_page_shows_the_versions_and_the_current_weights(admin_user):
    response = signed_in(admin_user).get(URL)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="versions"' in html and "v1" in html and "v2" in html
    assert 'name="engagement_weights.form_fill" value="8"' in html
    assert 'name="relationship_weights.meeting" value="8"' in html
    assert 'name="research_ratio_thresholds" value="1.5, 2.5, 4"' in html
    assert 'href="/weights/"' in html  # in the navigation, for admins


def test_the_navigation_offers_the_page_to_admins_only(viewer):
    assert 'href="/weights/"' not in signed_in(viewer).get("/status/").content.decode()


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("engagement_weights.ad_click", "-1", "engagement_weights.ad_click must be 0 or more"),
        ("engagement_weights.ad_click", "abc", "engagement_weights.ad_click must be a number"),
        ("engagement_window_days", "7.5", "engagement_window_days must be a whole number"),
        ("research_ratio_thresholds", "3, 2, 1", "research_ratio_thresholds must be 3 numbers"),
    ],
)
def test_a_bad_value_is_answered_on_the_page_naming_the_field(admin_user, field, value, says):
    response = signed_in(admin_user).post(URL, form_data(**{field: value}, preview="1"))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="weights-errors"' in html and says in html
    assert 'id="preview"' not in html  # nothing computed on bad values
    assert DefinitionsVersion.objects.count() == 2


def test_preview_then_save_makes_a_new_version_and_keeps_the_default(admin_user):
    world()
    client = signed_in(admin_user)
    data = form_data(**{"engagement_weights.form_fill": "20"})

    preview = client.post(URL, {**data, "preview": "1"})
    html = preview.content.decode()
    assert 'id="preview"' in html
    assert "<code>engagement_weights.form_fill</code>" in html
    assert "Of 2 accounts, would change" in html
    # one engagement score changes (8 -> 20), nothing else
    assert '<th scope="row">Engagement score</th><td class="num">1</td>' in html
    assert '<th scope="row">Funnel stage</th><td class="num">0</td>' in html
    assert DefinitionsVersion.objects.count() == 2  # a preview saves nothing
    digest = preview.context["form"].data["previewed"]

    saved = client.post(
        URL, {**data, "previewed": digest, "name": "v2-forms", "note": "", "save": "1"}
    )
    assert saved.status_code == 302 and saved["Location"] == f"{URL}?base=v2-forms"
    new = DefinitionsVersion.objects.get(name="v2-forms")
    assert new.params["engagement_weights"]["form_fill"] == 20
    assert new.derived_from.name == "v2" and not new.is_default
    assert definitions_resolve("v2").params["engagement_weights"]["form_fill"] == 8.0
    assert definitions_resolve(None).name == "v2"
    page = client.get(saved["Location"]).content.decode()
    assert "It is not the default" in page
    assert 'name="engagement_weights.form_fill" value="20"' in page


def test_saving_as_the_default_moves_it(admin_user):
    client = signed_in(admin_user)
    data = form_data(intent_surge_factor="3")
    digest = client.post(URL, {**data, "preview": "1"}).context["form"].data["previewed"]
    client.post(URL, {**data, "previewed": digest, "name": "v3", "make_default": "on", "save": "1"})
    assert definitions_resolve(None).name == "v3"


def test_save_without_a_preview_of_these_values_shows_the_preview_first(admin_user):
    client = signed_in(admin_user)
    data = form_data(intent_surge_factor="3", name="v2-surge", save="1")
    response = client.post(URL, {**data, "previewed": "stale"})
    assert response.status_code == 200
    assert 'id="preview"' in response.content.decode()
    assert "changed since the last preview" in response.content.decode()
    assert not DefinitionsVersion.objects.filter(name="v2-surge").exists()


def test_save_needs_a_free_name(admin_user):
    client = signed_in(admin_user)
    data = form_data(intent_surge_factor="3")
    digest = client.post(URL, {**data, "preview": "1"}).context["form"].data["previewed"]
    for name, says in (("", "Name the new version"), ("v1", "already named &#x27;v1&#x27;")):
        response = client.post(URL, {**data, "previewed": digest, "name": name, "save": "1"})
        assert says in response.content.decode()
    assert DefinitionsVersion.objects.count() == 2


def test_a_change_can_start_from_another_version(admin_user):
    world()
    client = signed_in(admin_user)
    html = client.get(f"{URL}?base=v1").content.decode()
    assert 'name="base" value="v1"' in html
    data = {**form_data(**{"engagement_weights.form_fill": "20"}), "base": "v1"}
    preview = client.post(URL, {**data, "preview": "1"})
    assert "Preview: v1 → the change" in preview.content.decode()
    digest = preview.context["form"].data["previewed"]
    client.post(URL, {**data, "previewed": digest, "name": "v1-forms", "save": "1"})
    saved = DefinitionsVersion.objects.get(name="v1-forms")
    assert (saved.generation, saved.derived_from.name) == (1, "v1")


def test_an_unknown_base_falls_back_to_the_default_saying_so(admin_user):
    html = signed_in(admin_user).get(f"{URL}?base=v9").content.decode()
    assert "No definitions version &#x27;v9&#x27;" in html
    assert 'name="base" value="v2"' in html


#: Session and user (2), the versions and the base (2), the preview: the KPIs' two sources
#: under each version (4), the accounts (1) and the high-value patterns once for each of the
#: three computations (3); the versions table reads no more (12 in all, whatever the data).
PAGE_QUERIES = 12


def test_the_preview_page_runs_a_fixed_number_of_queries(admin_user, django_assert_num_queries):
    definitions_mark_used(definitions_resolve("v2"))
    client = signed_in(admin_user)
    data = {**form_data(**{"engagement_weights.form_fill": "20"}), "preview": "1"}
    world()
    with django_assert_num_queries(PAGE_QUERIES):
        client.post(URL, data)
    for _ in range(5):
        world()
    DefinitionsVersion.objects.create(
        name="v2-more", params={}, derived_from=definitions_resolve("v2")
    )
    with django_assert_num_queries(PAGE_QUERIES):
        client.post(URL, data)
