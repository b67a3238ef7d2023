"""``bootstrap_demo`` (run by every ``make run``): the demo user's password is set once."""

import pytest
from django.core.management import call_command

from abm_site.models import ApiToken, User


@pytest.fixture
def no_demo_data(monkeypatch, settings, tmp_path):
    monkeypatch.setenv("DEMO_ACCOUNTS", "0")
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    settings.VAR_DIR = tmp_path


def test_a_second_start_keeps_the_demo_users_password_sessions_and_tokens(db, no_demo_data, client):
    """Every ``make run`` used to set the password again, which ends the user's sessions
    and revokes their API tokens (a password change does): issue #19."""
    call_command("bootstrap_demo")
    demo = User.objects.get(username="demo")
    first_hash = demo.password
    token, _key = ApiToken.issue(user=demo, name="integration")
    client.force_login(demo)
    assert client.get("/").status_code == 200
    call_command("bootstrap_demo")
    demo.refresh_from_db()
    assert demo.password == first_hash
    assert client.get("/").status_code == 200  # still signed in
    assert ApiToken.objects.active().filter(pk=token.pk).exists()


def test_a_changed_demo_password_is_applied(db, no_demo_data, monkeypatch):
    call_command("bootstrap_demo")
    monkeypatch.setenv("DEMO_PASSWORD", "a-New-password-9")
    call_command("bootstrap_demo")
    assert User.objects.get(username="demo").check_password("a-New-password-9")
