"""My API tokens page, the admin's token form, no Basic auth, security headers, check --deploy."""

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from abm_site.models import ApiToken

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_user_creates_lists_and_revokes_own_tokens(editor, viewer):
    client = Client()
    client.force_login(editor)
    created = client.post(
        "/account/tokens/", {"name": "CRM sync", "scope": "write", "expires_on": "2099-12-31"}
    )
    assert created.status_code == 200
    assert created["Cache-Control"] == "no-store"
    token = ApiToken.objects.get(user=editor, name="CRM sync")
    key = created.context["new_key"]
    assert key.startswith(token.prefix) and key.encode() in created.content
    assert token.key_hash != key and key not in token.key_hash
    assert str(token.expires_at.date()) == "2100-01-01"
    listing = client.get("/account/tokens/")
    assert key.encode() not in listing.content  # shown once
    assert token.prefix.encode() in listing.content
    api = Client(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/tiers/").status_code == 200
    # Someone else's token cannot be revoked here.
    other = ApiToken.issue(user=viewer, name="theirs")[0]
    assert client.post(f"/account/tokens/{other.pk}/revoke/").status_code == 404
    assert client.post(f"/account/tokens/{token.pk}/revoke/").status_code == 302
    assert api.get("/api/v1/tiers/").status_code == 401
    other.refresh_from_db()
    assert other.revoked_at is None


@pytest.mark.django_db
def test_viewers_may_only_create_read_only_tokens(viewer):
    client = Client()
    client.force_login(viewer)
    response = client.post("/account/tokens/", {"name": "x", "scope": "write"})
    assert b"can only be read-only" in response.content
    assert not ApiToken.objects.filter(user=viewer).exists()
    past = client.post(
        "/account/tokens/", {"name": "x", "scope": "read", "expires_on": "2001-01-01"}
    )
    assert b"cannot be in the past" in past.content


@pytest.mark.django_db
def test_admin_issues_a_token_once_and_cannot_move_it(admin_user, editor):
    client = Client()
    client.force_login(admin_user)
    response = client.post(
        "/admin/abm_site/apitoken/add/",
        {"user": editor.pk, "name": "etl", "scope": "read", "expires_at_0": "", "expires_at_1": ""},
        follow=True,
    )
    token = ApiToken.objects.get(name="etl")
    assert token.user == editor and len(token.key_hash) == 64
    assert "copy it now" in response.content.decode()
    change = client.get(f"/admin/abm_site/apitoken/{token.pk}/change/")
    assert b'name="user"' not in change.content  # read-only once issued


@pytest.mark.django_db
def test_no_basic_authentication(viewer):
    basic = base64.b64encode(b"viewer:pw-Long-enough-1").decode()
    response = Client().get("/api/v1/accounts/", HTTP_AUTHORIZATION=f"Basic {basic}")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")
    from rest_framework.settings import api_settings

    names = [c.__name__ for c in api_settings.DEFAULT_AUTHENTICATION_CLASSES]
    assert names == ["ApiTokenAuthentication", "SessionAuthentication"]


@pytest.mark.django_db
def test_security_headers_on_pages(viewer):
    client = Client()
    client.force_login(viewer)
    response = client.get("/accounts/")
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


def test_templates_have_no_inline_scripts_or_styles():
    """Pages are served under a CSP without 'unsafe-inline'. E-mail bodies are not pages:
    mail clients ignore style sheets, so their styles must be inline; no script anywhere."""
    offenders = []
    scripts = ("<script>", "onclick=", "onload=", "onsubmit=", "javascript:")
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        mail = "email" in path.relative_to(ROOT).parts
        for needle in scripts if mail else (*scripts, "<style", " style="):
            if needle in text:
                offenders.append(f"{path.relative_to(ROOT)}: {needle.strip()}")
    assert not offenders, "CSP allows no inline code: " + ", ".join(offenders)


def test_check_deploy_is_clean():
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DEBUG": "0",
        "SECRET_KEY": "k" * 20 + "a-test-only-secret-key-for-check-deploy-0123456789",
        "ALLOWED_HOSTS": "abm.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    settings_out = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE, "
            "s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.SECURE_HSTS_SECONDS)",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert settings_out.stdout.split()[-4:] == ["True", "True", "True", "31536000"]


@pytest.mark.django_db
def test_api_docs_are_served_locally_under_a_self_only_script_policy(viewer):
    client = Client()
    client.force_login(viewer)
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    body = docs.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in body
    assert "http" not in docs["Content-Security-Policy"]  # no CDN anywhere
    assert "script-src 'self'" in docs["Content-Security-Policy"]
    assert "<script>" not in body  # the initializer is a separate script file
    init = client.get("/api/docs/?script=")
    assert init.status_code == 200
    assert "SwaggerUIBundle" in init.content.decode()
    assert Client().get("/api/schema/").status_code == 401  # the schema is not public
