"""The create_api_token command: a working key printed once, clear errors otherwise."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from abm_site.models import ApiToken


def create(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def client_for(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.mark.django_db
def test_read_token_reads_and_is_stored_hashed(viewer):
    key, message = create("viewer", "--name", "BI dashboard")
    token = ApiToken.objects.get()
    assert (token.user, token.name, token.scope, token.expires_at) == (
        viewer,
        "BI dashboard",
        "read",
        None,
    )
    assert key.startswith("abm_") and len(key) == 47
    assert token.prefix == key[:12]
    assert key not in token.key_hash
    assert "Copy the key now" in message and "never expires" in message
    client = client_for(key)
    assert client.get("/api/v1/tiers/").status_code == 200
    assert client.post("/api/v1/tiers/", {"name": "T", "rank": 1}).status_code == 403


@pytest.mark.django_db
def test_write_token_of_an_editor_writes(editor):
    key, _ = create("editor", "--name", "CRM sync", "--scope", "write")
    response = client_for(key).post("/api/v1/tiers/", {"name": "Tier 1", "rank": 1}, format="json")
    assert response.status_code == 201


@pytest.mark.django_db
def test_expiry_in_days(editor):
    before = timezone.now()
    key, message = create("editor", "--name", "Trial", "--expires-days", "30")
    token = ApiToken.objects.get()
    assert before + dt.timedelta(days=30) <= token.expires_at
    assert token.expires_at <= timezone.now() + dt.timedelta(days=30)
    assert "expires " in message
    ApiToken.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert client_for(key).get("/api/v1/tiers/").status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ghost", "--name", "x"], "No user named 'ghost'."),
        (["nobody", "--name", "x"], "has no role"),
        (["viewer", "--name", "x", "--scope", "write"], "is a viewer and may not write"),
        (["editor", "--name", "x", "--expires-days", "0"], "--expires-days"),
        (["editor", "--name", "   "], "--name"),
        (["editor", "--name", "x" * 101], "at most 100 characters"),
    ],
)
def test_bad_input_is_refused_with_a_message(viewer, editor, no_role_user, args, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(")):
        create(*args)
    assert not ApiToken.objects.exists()


@pytest.mark.django_db
def test_inactive_user_is_refused(editor):
    editor.is_active = False
    editor.save()
    with pytest.raises(CommandError, match="inactive"):
        create("editor", "--name", "x")


@pytest.mark.django_db
def test_unknown_scope_is_refused(editor):
    with pytest.raises(CommandError, match="invalid choice: 'admin'"):
        create("editor", "--name", "x", "--scope", "admin")
