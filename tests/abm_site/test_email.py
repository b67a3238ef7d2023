"""E-mail from ``EMAIL_URL``, and password reset received by a real SMTP server on loopback."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client, override_settings

from abm_site.email_url import EmailUrlError, parse_email_url

BASE = Path("/srv/abm")


def test_smtp_urls_give_host_port_credentials_and_tls():
    assert parse_email_url("smtp://mailer:p%40ss@mail.example.com:2525", BASE) == {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "mail.example.com",
        "EMAIL_PORT": 2525,
        "EMAIL_HOST_USER": "mailer",
        "EMAIL_HOST_PASSWORD": "p@ss",  # %40 decoded
        "EMAIL_USE_TLS": False,
        "EMAIL_USE_SSL": False,
    }
    tls = parse_email_url("smtp+tls://u:p@smtp.example.com?timeout=7.5", BASE)
    assert (tls["EMAIL_PORT"], tls["EMAIL_USE_TLS"], tls["EMAIL_USE_SSL"]) == (587, True, False)
    assert tls["EMAIL_TIMEOUT"] == 7.5
    ssl = parse_email_url("smtps://u:p@smtp.example.com", BASE)
    assert (ssl["EMAIL_PORT"], ssl["EMAIL_USE_TLS"], ssl["EMAIL_USE_SSL"]) == (465, False, True)
    assert parse_email_url("smtp://relay", BASE)["EMAIL_PORT"] == 25
    assert parse_email_url("smtp://relay", BASE)["EMAIL_HOST_USER"] == ""


def test_console_and_file_urls():
    assert parse_email_url("console://", BASE) == {
        "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"
    }
    relative = parse_email_url("file://var/mail", BASE)
    assert relative["EMAIL_BACKEND"].endswith("filebased.EmailBackend")
    assert relative["EMAIL_FILE_PATH"] == "/srv/abm/var/mail"
    assert parse_email_url("file:///tmp/mails", BASE)["EMAIL_FILE_PATH"] == "/tmp/mails"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("pop3://mail.example.com", "unknown scheme 'pop3'"),
        ("mail.example.com", "unknown scheme '(none)'"),
        ("smtp://", "needs a host"),
        ("smtp://host:abc", "port of 'host:abc' is not a number"),
        ("file://", "needs a directory"),
        ("smtp://h?timeout=soon", "timeout must be a number"),
    ],
)
def test_a_bad_url_says_what_to_write(url, says):
    with pytest.raises(EmailUrlError, match=re.escape(says)):
        parse_email_url(url, BASE)


def test_the_default_writes_mails_under_var_mail():
    # make run sets no EMAIL_URL; the test runner swaps in locmem, so check the parsed default.
    default = parse_email_url("file://var/mail", Path(settings.BASE_DIR))
    assert default["EMAIL_FILE_PATH"] == str(Path(settings.BASE_DIR) / "var" / "mail")
    assert settings.DEFAULT_FROM_EMAIL


def test_password_reset_mail_reaches_a_real_smtp_server_and_the_link_sets_a_password(
    db, smtp_server
):
    port, inbox = smtp_server
    user = get_user_model().objects.create_user(
        username="ada", email="ada@example.com", password="Old-password-42"
    )
    client = Client()
    login = client.get("/login/")
    assert b'href="/password-reset/"' in login.content
    smtp = parse_email_url(f"smtp://127.0.0.1:{port}?timeout=5", Path(settings.BASE_DIR))
    with override_settings(**smtp, DEFAULT_FROM_EMAIL="ABM <abm@example.com>"):
        response = client.post("/password-reset/", {"email": "ada@example.com"})
        assert response.status_code == 302 and response["Location"] == "/password-reset/sent/"
        # An unknown address gets the same answer and no mail (no user enumeration).
        assert client.post("/password-reset/", {"email": "nobody@example.com"}).status_code == 302
    assert len(inbox.messages) == 1
    recipients, message = inbox.messages[0]
    assert recipients == ["ada@example.com"]
    assert message["From"] == "ABM <abm@example.com>"
    assert message["Subject"] == "Reset your ABM funnel password"
    body = message.get_content()
    link = re.search(r"http://testserver(/password-reset/[^/\s]+/[^/\s]+/)", body).group(1)
    # Django swaps the token for "set-password" in the session, then shows the form.
    form_url = client.get(link)["Location"]
    page = client.get(form_url)
    assert page.status_code == 200 and b"Choose a new password" in page.content
    done = client.post(
        form_url, {"new_password1": "New-password-77x", "new_password2": "New-password-77x"}
    )
    assert done["Location"] == "/password-reset/complete/"
    user.refresh_from_db()
    assert user.check_password("New-password-77x")
    # The link works once.
    assert b"This link does not work" in Client().get(link).content
