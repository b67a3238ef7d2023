"""Sign-in lockout, session timeouts, ending sessions and tokens, the TOTP second factor."""

import time

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.sessions.models import Session
from django.test import Client, override_settings
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from abm_site.models import ApiToken, UserSession
from abm_site.security import LOGIN_AT, SEEN_AT
from tests.conftest import token_client

PASSWORD = "pw-Long-enough-1"


def _sign_in(client: Client, username: str, password: str = PASSWORD, **extra):
    return client.post("/login/", {"username": username, "password": password}, **extra)


def _code(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return f"{totp.token():06d}"


@pytest.mark.django_db
def test_five_failures_lock_username_and_address_for_15_minutes(viewer):
    client = Client(REMOTE_ADDR="10.1.1.1")
    for _ in range(4):
        assert _sign_in(client, "viewer", "wrong").status_code == 200
    locked = _sign_in(client, "viewer", "wrong")
    assert locked.status_code == 429
    text = locked.content.decode()
    assert "Too many failed sign-ins (5)" in text
    assert "in about 15 minutes" in text
    assert 14 * 60 <= int(locked["Retry-After"]) <= 15 * 60
    # Even the right password is refused while locked, and the page says so.
    refused = _sign_in(client, "viewer")
    assert refused.status_code == 429
    assert "_auth_user_id" not in client.session
    # Another address is not locked (the lock is per username and address).
    assert _sign_in(Client(REMOTE_ADDR="10.2.2.2"), "viewer").status_code == 302
    attempt = AccessAttempt.objects.get(username="viewer", ip_address="10.1.1.1")
    assert attempt.failures_since_start == 5


@pytest.mark.django_db
def test_lock_expires_after_the_cool_off(viewer):
    client = Client(REMOTE_ADDR="10.1.1.3")
    for _ in range(5):
        _sign_in(client, "viewer", "wrong")
    assert _sign_in(client, "viewer").status_code == 429
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time.replace(year=2020)
    )
    assert _sign_in(client, "viewer").status_code == 302


@pytest.mark.django_db
@override_settings(ABM_LOGIN_ADDRESS_FAILURE_LIMIT=12)
def test_one_address_spraying_a_password_over_many_user_names_is_locked(viewer, django_user_model):
    """Password spraying: one password tried once against each user name from one address."""
    for n in range(14):
        django_user_model.objects.create_user(username=f"user{n}", password=PASSWORD + "x")
    sprayer = Client(REMOTE_ADDR="10.9.9.9")
    answers = [_sign_in(sprayer, f"user{n}", "Summer2024!").status_code for n in range(14)]
    # Each user name failed once (far under the per-user limit of 5), yet the twelfth
    # failure locks the address: the 12th answer says so, later ones are refused at once.
    assert answers == [200] * 11 + [429] * 3
    refused = _sign_in(sprayer, "viewer")  # even a right password, from that address
    assert refused.status_code == 429
    assert "_auth_user_id" not in sprayer.session
    text = refused.content.decode()
    assert "Too many failed sign-ins (12) from your address" in text
    assert 14 * 60 <= int(refused["Retry-After"]) <= 15 * 60
    # The users themselves sign in from their own addresses.
    assert _sign_in(Client(REMOTE_ADDR="10.8.8.8"), "viewer").status_code == 302
    # Failures recorded: one per user name, none after the lock (it does not extend itself).
    assert sum(AccessAttempt.objects.values_list("failures_since_start", flat=True)) == 12


@pytest.mark.django_db
def test_address_limit_is_higher_than_the_user_limit_by_default(settings):
    assert settings.ABM_LOGIN_ADDRESS_FAILURE_LIMIT == 30
    assert settings.ABM_LOGIN_ADDRESS_FAILURE_LIMIT > settings.AXES_FAILURE_LIMIT == 5


@pytest.mark.django_db
@override_settings(ABM_LOGIN_ADDRESS_FAILURE_LIMIT=6)
def test_address_lock_expires_after_the_cool_off(viewer, django_user_model):
    for n in range(6):
        django_user_model.objects.create_user(username=f"user{n}", password=PASSWORD + "x")
    client = Client(REMOTE_ADDR="10.7.7.7")
    for n in range(6):
        _sign_in(client, f"user{n}", "wrong")
    assert _sign_in(client, "viewer").status_code == 429
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.first().attempt_time.replace(year=2020)
    )
    assert _sign_in(client, "viewer").status_code == 302


@pytest.mark.django_db
def test_login_page_has_csrf_and_strong_password_rules(client, settings):
    page = client.get("/login/")
    assert b"csrfmiddlewaretoken" in page.content
    enforcing = Client(enforce_csrf_checks=True)
    assert _sign_in(enforcing, "viewer").status_code == 403
    names = [v["NAME"].rsplit(".", 1)[1] for v in settings.AUTH_PASSWORD_VALIDATORS]
    assert "MinimumLengthValidator" in names and "CommonPasswordValidator" in names


@pytest.mark.django_db
def test_sign_in_records_the_session_and_sign_out_ends_it(viewer):
    client = Client()
    assert _sign_in(client, "viewer").status_code == 302
    key = client.session.session_key
    assert UserSession.objects.filter(user=viewer, session_key=key).exists()
    assert client.post("/logout/").status_code == 302
    assert not UserSession.objects.filter(session_key=key).exists()
    assert not Session.objects.filter(session_key=key).exists()


@pytest.mark.django_db
@override_settings(SESSION_IDLE_TIMEOUT=600)
def test_idle_session_ends(viewer):
    client = Client()
    client.force_login(viewer)
    assert client.get("/accounts/").status_code == 200
    session = client.session
    session[SEEN_AT] = int(time.time()) - 601
    session.save()
    response = client.get("/accounts/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    page = client.get(response["Location"])
    assert b"signed out after a period without activity" in page.content


@pytest.mark.django_db
@override_settings(SESSION_IDLE_TIMEOUT=600, SESSION_ABSOLUTE_TIMEOUT=3600)
def test_active_session_ends_at_the_absolute_timeout(viewer):
    client = Client()
    client.force_login(viewer)
    session = client.session
    session[LOGIN_AT] = int(time.time()) - 3601
    session[SEEN_AT] = int(time.time()) - 5  # active a moment ago
    session.save()
    response = client.get("/accounts/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.django_db
def test_activity_is_written_at_most_once_a_minute(viewer):
    client = Client()
    client.force_login(viewer)
    before = client.session[SEEN_AT]
    client.get("/healthz")
    assert client.session[SEEN_AT] == before


@pytest.mark.django_db
def test_password_change_ends_other_sessions_and_revokes_tokens(viewer):
    other = Client()
    other.force_login(viewer)
    api = token_client(viewer)
    assert api.get("/api/v1/accounts/").status_code == 200
    client = Client()
    client.force_login(viewer)
    page = client.get("/account/password/")
    assert page.status_code == 200 and b"csrfmiddlewaretoken" in page.content
    response = client.post(
        "/account/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "An0ther-long-pass",
            "new_password2": "An0ther-long-pass",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/account/password/done/"
    assert client.get("/accounts/").status_code == 200  # this session goes on
    assert other.get("/accounts/").status_code == 302  # the other one ended
    assert api.get("/api/v1/accounts/").status_code == 401
    assert not ApiToken.objects.active().filter(user=viewer).exists()
    assert UserSession.objects.filter(user=viewer).count() == 1


@pytest.mark.django_db
def test_weak_new_password_is_refused(viewer):
    client = Client()
    client.force_login(viewer)
    response = client.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": "password", "new_password2": "password"},
    )
    assert response.status_code == 200
    assert b"too common" in response.content


@pytest.mark.django_db
def test_deactivating_a_user_ends_sessions_and_revokes_tokens(viewer, admin_user):
    client = Client()
    client.force_login(viewer)
    api = token_client(viewer, "read")
    viewer.is_active = False
    viewer.save()
    assert client.get("/accounts/").status_code == 302
    assert api.get("/api/v1/accounts/").status_code == 401
    assert ApiToken.objects.filter(user=viewer, revoked_at__isnull=True).count() == 0
    assert not UserSession.objects.filter(user=viewer).exists()


@pytest.mark.django_db
def test_admin_action_deactivates_set_based(viewer, editor, admin_user):
    for user in (viewer, editor):
        Client().force_login(user)
        ApiToken.issue(user=user, name="t")
    admin = Client()
    admin.force_login(admin_user)
    response = admin.post(
        "/admin/abm_site/user/",
        {"action": "deactivate", "_selected_action": [viewer.pk, editor.pk, admin_user.pk]},
    )
    assert response.status_code == 302
    viewer.refresh_from_db()
    admin_user.refresh_from_db()
    assert not viewer.is_active and admin_user.is_active  # never yourself
    assert not UserSession.objects.filter(user__in=[viewer, editor]).exists()
    assert not ApiToken.objects.filter(user__in=[viewer, editor], revoked_at__isnull=True).exists()


@pytest.mark.django_db
def test_password_hash_upgrade_at_sign_in_does_not_revoke_tokens(viewer):
    ApiToken.issue(user=viewer, name="sync")
    hasher = PBKDF2PasswordHasher()
    viewer.password = hasher.encode(PASSWORD, hasher.salt(), iterations=1000)
    viewer.save(update_fields=["password"])
    assert _sign_in(Client(), "viewer").status_code == 302
    viewer.refresh_from_db()
    assert not viewer.password.startswith("pbkdf2_sha256$1000$")  # it was upgraded
    assert ApiToken.objects.active().filter(user=viewer).count() == 1


@pytest.mark.django_db
def test_totp_enrolment_then_every_sign_in_asks_for_a_code(viewer):
    client = Client()
    client.force_login(viewer)
    assert client.get("/account/security/").status_code == 200
    assert client.post("/account/security/", {"action": "start"}).status_code == 302
    page = client.get("/account/security/")
    assert b"data:image/svg+xml;base64," in page.content
    device = TOTPDevice.objects.get(user=viewer, confirmed=False)
    bad = client.post("/account/security/", {"action": "confirm", "otp_token": "000000"})
    assert b"not valid" in bad.content
    device.refresh_from_db()
    device.throttling_failure_count = 0
    device.throttling_failure_timestamp = None
    device.save()
    ok = client.post("/account/security/", {"action": "confirm", "otp_token": _code(device)})
    assert ok.status_code == 302
    assert TOTPDevice.objects.get(user=viewer).confirmed
    assert client.get("/accounts/").status_code == 200  # this session is verified

    fresh = Client()
    assert _sign_in(fresh, "viewer").status_code == 302
    gate = fresh.get("/accounts/")
    assert gate.status_code == 302 and gate["Location"].startswith("/account/verify/")
    assert fresh.get("/api/v1/accounts/").status_code == 403  # sessions need the code too
    assert token_client(viewer).get("/api/v1/accounts/").status_code == 200  # tokens do not
    device.refresh_from_db()
    device.last_t = -1
    device.save()
    verified = fresh.post("/account/verify/?next=/accounts/", {"otp_token": _code(device)})
    assert verified.status_code == 302 and verified["Location"] == "/accounts/"
    assert fresh.get("/accounts/").status_code == 200


@pytest.mark.django_db
def test_admins_must_enrol_when_required(admin_user, viewer):
    client = Client()
    client.force_login(admin_user)
    with override_settings(ABM_REQUIRE_2FA_FOR_ADMINS=True):
        for url in ("/accounts/", "/admin/"):
            response = client.get(url)
            assert response.status_code == 302 and response["Location"] == "/account/security/"
        assert b"Admins must use two-factor" in client.get("/account/security/").content
        other = Client()
        other.force_login(viewer)
        assert other.get("/accounts/").status_code == 200  # optional for everyone else
    assert client.get("/admin/").status_code == 200  # off by default
