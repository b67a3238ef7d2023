"""The weights API (issue 20 item 2): read the weights and windows (viewers); preview a
change and save it as a new definitions version (admins), through the weights page's own
services. The world: one target account with a form fill yesterday (engagement 8 under v2),
one with a web visit (engagement 1); form fill 8 -> 20 changes one engagement score."""

import pytest

from funnel.definitions import definitions_resolve
from funnel.models import DefinitionsVersion
from reports.weights import EDITABLE
from tests.conftest import postgresql_only, token_client
from tests.reports.test_weights_page import world

pytestmark = [pytest.mark.django_db, postgresql_only]

URL, PREVIEW = "/api/v1/weights/", "/api/v1/weights/preview/"
CHANGE = {"base": "v2", "params": {"engagement_weights": {"form_fill": 20}}}


def test_viewers_read_the_weights_of_the_version_in_force(viewer_api):
    body = viewer_api.get(URL).json()
    v2 = definitions_resolve("v2")
    assert body["definitions"] == {"id": v2.pk, "name": "v2", "generation": 2, "is_default": True}
    assert list(body["params"]) == list(EDITABLE)
    assert body["params"]["engagement_weights"] == v2.params["engagement_weights"]
    assert viewer_api.get(f"{URL}?base=v1").json()["definitions"]["name"] == "v1"
    assert "no-such" in str(viewer_api.get(f"{URL}?base=no-such").json()["base"])


@pytest.mark.parametrize("who", ["viewer", "editor"])
def test_only_admins_preview_and_save(request, who):
    api = token_client(request.getfixturevalue(who), "write")
    assert api.post(PREVIEW, CHANGE, format="json").status_code == 403
    assert (
        api.post(URL, {**CHANGE, "name": "x", "previewed": "x"}, format="json").status_code == 403
    )


def test_preview_then_save_makes_a_new_version_and_keeps_the_base(admin_api):
    world()
    preview = admin_api.post(PREVIEW, CHANGE, format="json")
    assert preview.status_code == 200, preview.content
    body = preview.json()
    assert body["changed_params"] == ["engagement_weights.form_fill"]
    assert body["accounts"]["accounts"] == 2 and body["accounts"]["engagement_score"] == 1
    assert {"engagement_score_avg", "relationship_score_avg"} & {k["id"] for k in body["kpis"]}
    unpreviewed = admin_api.post(URL, {**CHANGE, "name": "v3", "previewed": "0"}, format="json")
    assert unpreviewed.status_code == 400 and "previewed" in unpreviewed.json()
    other = {"base": "v2", "params": {"engagement_weights": {"form_fill": 21}}}
    stale = admin_api.post(URL, {**other, "name": "v3", "previewed": body["digest"]}, format="json")
    assert stale.status_code == 400 and "previewed" in stale.json()
    saved = admin_api.post(
        URL, {**CHANGE, "name": "v3", "previewed": body["digest"]}, format="json"
    )
    assert saved.status_code == 201, saved.content
    answer = saved.json()
    assert answer["definitions"]["name"] == "v3" and answer["definitions"]["derived_from"] == "v2"
    assert answer["definitions"]["is_default"] is False
    assert answer["changed_params"] == ["engagement_weights.form_fill"]
    v2, v3 = definitions_resolve("v2"), DefinitionsVersion.objects.get(name="v3")
    assert v3.params["engagement_weights"]["form_fill"] == 20
    # the other kinds' weights are the base's: a map changes the kinds it names
    others = {k: w for k, w in v2.params["engagement_weights"].items() if k != "form_fill"}
    assert {k: w for k, w in v3.params["engagement_weights"].items() if k != "form_fill"} == others
    assert v2.params["engagement_weights"]["form_fill"] != 20 and v2.is_default
    again = admin_api.post(
        URL, {**CHANGE, "name": "v3", "previewed": body["digest"]}, format="json"
    )
    assert again.status_code == 400 and "already named" in str(again.json()["name"])


def test_bad_values_are_400s_naming_the_parameter(admin_api):
    bad = admin_api.post(PREVIEW, {"params": {"engagement_window_days": 0}}, format="json").json()
    assert "engagement_window_days" in bad["params"]
    unknown = admin_api.post(PREVIEW, {"params": {"gross_margin": 0.5}}, format="json").json()
    assert "gross_margin" in str(unknown["params"])
    kind = admin_api.post(
        PREVIEW, {"params": {"engagement_weights": {"ad_impression": 1}}}, format="json"
    ).json()
    assert "engagement_weights.ad_impression" in kind["params"]
