"""The three roles: their model permissions, and what they may do on pages and the API."""

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission

from abm_site.roles import ADMIN_MODELS, COMPUTED_MODELS, DOMAIN_APPS, ROLES
from tests.conftest import token_client
from tests.factories import AccountFactory

ACTIONS = ("add", "change", "delete", "view")


def domain_models() -> list:
    return [m for label in DOMAIN_APPS for m in apps.get_app_config(label).get_models()]


def perm(model, action: str) -> str:
    return f"{model._meta.app_label}.{action}_{model._meta.model_name}"


def group_perms(name: str) -> set[str]:
    return {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Group.objects.get(name=name).permissions.select_related("content_type")
    }


# --- Groups and model permissions ------------------------------------------------


@pytest.mark.django_db
def test_the_data_migration_created_the_three_groups():
    assert set(Group.objects.values_list("name", flat=True)) >= set(ROLES)
    assert ROLES == ("viewer", "editor", "admin")


#: Rows people enter (by hand, import or API) and rows the recompute writes. Every
#: domain model must be in one list, so a new model forces a decision about editors.
ENTERED = {
    "tier", "icprule", "account", "stakeholder", "owner", "accountdomain",
    "program", "spend", "visitor", "touch", "intentsignal", "highvaluepage",
    "opportunity", "npsresponse", "accountlist", "listmembership", "holdout",
}  # fmt: skip
COMPUTED = {"accountsnapshot", "accountstagechange", "funnelsnapshot", "recomputerun"}


def test_every_domain_model_is_classified():
    names = {m._meta.model_name for m in domain_models()}
    computed_here = names - ENTERED
    assert names >= ENTERED
    assert computed_here >= COMPUTED
    assert computed_here == COMPUTED_MODELS | ADMIN_MODELS, (
        "roles.COMPUTED_MODELS (or ADMIN_MODELS) must list every model editors do not write"
    )


@pytest.mark.django_db
def test_viewer_has_only_view_permissions_on_domain_models():
    expected = {perm(m, "view") for m in domain_models()}
    assert group_perms("viewer") == expected


@pytest.mark.django_db
def test_editor_writes_domain_data_but_not_computed_rows():
    perms = group_perms("editor")
    for model in domain_models():
        computed = model._meta.model_name not in ENTERED
        assert perm(model, "view") in perms, model
        for action in ("add", "change", "delete"):
            assert (perm(model, action) in perms) is not computed, (model, action)
    assert not any(p.startswith(("abm_site.", "auth.")) for p in perms)


@pytest.mark.django_db
def test_admin_group_holds_every_permission():
    assert group_perms("admin") == {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Permission.objects.select_related("content_type")
    }


@pytest.mark.django_db
def test_user_has_perm_follows_the_group(viewer, editor, admin_user, no_role_user):
    from engagement.models import Touch
    from funnel.models import AccountSnapshot

    assert viewer.has_perm(perm(Touch, "view"))
    assert not viewer.has_perm(perm(Touch, "add"))
    assert editor.has_perm(perm(Touch, "add"))
    assert editor.has_perm(perm(Touch, "delete"))
    assert not editor.has_perm(perm(AccountSnapshot, "change"))
    assert editor.has_perm(perm(AccountSnapshot, "view"))
    assert admin_user.has_perm(perm(AccountSnapshot, "change"))
    assert not no_role_user.has_perm(perm(Touch, "view"))
    assert [viewer.role, editor.role, admin_user.role, no_role_user.role] == [
        "viewer",
        "editor",
        "admin",
        None,
    ]


@pytest.mark.django_db
def test_sync_is_idempotent_and_repairs_groups():
    from abm_site.roles import sync_role_permissions

    before = {name: group_perms(name) for name in ROLES}
    Group.objects.get(name="viewer").permissions.clear()
    Group.objects.filter(name="editor").delete()
    sync_role_permissions()
    sync_role_permissions()
    assert {name: group_perms(name) for name in ROLES} == before


# --- Pages -------------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_is_sent_to_the_sign_in_page(client):
    response = client.get("/accounts/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/accounts/"
    assert client.get("/login/").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["viewer", "editor", "admin_user"])
def test_every_role_sees_the_account_list(client, request, role):
    AccountFactory(name="Globex Corporation")
    AccountFactory(name="Initech")
    client.force_login(request.getfixturevalue(role))
    response = client.get("/accounts/")
    assert response.status_code == 200
    assert "Globex Corporation" in response.text
    assert "Initech" in response.text


@pytest.mark.django_db
def test_signed_in_user_without_a_role_gets_403_on_pages(client, no_role_user):
    AccountFactory(name="Globex Corporation")
    client.force_login(no_role_user)
    response = client.get("/accounts/")
    assert response.status_code == 403
    assert "Globex Corporation" not in response.text
    assert client.get("/").status_code == 403
    # They can still sign out, and the health check stays open.
    assert client.post("/logout/").status_code == 302
    assert client.get("/accounts/").status_code == 302


@pytest.mark.django_db
def test_user_without_a_role_gets_403_from_the_api(no_role_user):
    client = token_client(no_role_user, "write")
    assert client.get("/api/v1/tiers/").status_code == 403
    assert client.post("/api/v1/tiers/", {"name": "T", "rank": 1}).status_code == 403


# --- API ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_api_anonymous_gets_401(api_client):
    assert api_client.get("/api/v1/tiers/").status_code == 401
    assert api_client.post("/api/v1/tiers/", {"name": "T", "rank": 1}).status_code == 401


@pytest.mark.django_db
def test_api_viewer_reads_but_cannot_write(viewer_api, viewer):
    assert viewer_api.get("/api/v1/tiers/").status_code == 200
    response = viewer_api.post("/api/v1/tiers/", {"name": "Tier 1", "rank": 1}, format="json")
    assert response.status_code == 403
    # Even a read-write token does not lift the viewer's role.
    response = token_client(viewer, "write").post(
        "/api/v1/tiers/", {"name": "Tier 1", "rank": 1}, format="json"
    )
    assert response.status_code == 403


@pytest.mark.django_db
def test_api_editor_creates_a_tier(editor_api):
    response = editor_api.post("/api/v1/tiers/", {"name": "Tier 1", "rank": 1}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["name"] == "Tier 1"
    listed = editor_api.get("/api/v1/tiers/").json()
    assert [t["name"] for t in listed["results"]] == ["Tier 1"]


@pytest.mark.django_db
def test_api_editor_session_creates_a_tier(api_client, editor):
    api_client.force_login(editor)
    response = api_client.post("/api/v1/tiers/", {"name": "Tier 1", "rank": 1}, format="json")
    assert response.status_code == 201


@pytest.mark.django_db
def test_api_read_only_token_of_an_editor_cannot_write(editor):
    client = token_client(editor, "read")
    assert client.get("/api/v1/tiers/").status_code == 200
    response = client.post("/api/v1/tiers/", {"name": "Tier 1", "rank": 1}, format="json")
    assert response.status_code == 403
    assert "read-only" in response.json()["detail"]


@pytest.mark.django_db
def test_api_admin_token_writes(admin_api):
    response = admin_api.post("/api/v1/tiers/", {"name": "Tier 1", "rank": 1}, format="json")
    assert response.status_code == 201
