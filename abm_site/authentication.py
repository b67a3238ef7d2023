"""Token authentication against hashed ``ApiToken`` keys; the sign-in lockout."""

import datetime as dt

from axes.attempts import get_cool_off_threshold
from axes.backends import AxesStandaloneBackend
from axes.handlers.database import AxesDatabaseHandler
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.db.models import Max, Sum
from django.http import HttpRequest
from django.utils import timezone
from rest_framework import authentication, exceptions

from .models import ApiToken


class ApiTokenAuthentication(authentication.TokenAuthentication):
    """``Authorization: Token <key>`` (or ``Bearer <key>``) checked against the key hash."""

    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() not in (b"token", b"bearer"):
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Invalid Authorization header: use 'Token <key>'."
            )
        try:
            key = header[1].decode()
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed("Invalid token characters.") from exc
        return self.authenticate_credentials(key)

    def authenticate_credentials(self, key):
        token = ApiToken.lookup(key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token


class LockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout check for every sign-in that comes with a request.

    ``authenticate()`` without a request (the test client's ``login()``, shell
    use) has no client address to lock out, so it is passed on to the next
    backend instead of failing; every HTTP sign-in form passes its request.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def address_failures(ip_address: str | None, since: dt.datetime) -> tuple[int, dt.datetime | None]:
    """Failed sign-ins from one address since ``since``, over every user name; and the last."""
    found = AccessAttempt.objects.filter(ip_address=ip_address, attempt_time__gte=since).aggregate(
        failures=Sum("failures_since_start"), last=Max("attempt_time")
    )
    return found["failures"] or 0, found["last"]


class SignInLockoutHandler(AxesDatabaseHandler):
    """django-axes' lockout per user name and address, plus one per address alone.

    ``ABM_LOGIN_FAILURE_LIMIT`` failures for one user name from one address
    lock that pair; ``ABM_LOGIN_ADDRESS_FAILURE_LIMIT`` (higher) failures from
    one address over any user names lock the address, which stops password
    spraying (one password tried against many user names, each failing once).
    Both last ``ABM_LOGIN_LOCKOUT_MINUTES`` after the last counted failure.
    """

    def is_locked(self, request: HttpRequest, credentials: dict | None = None) -> bool:
        return super().is_locked(request, credentials) or self.address_locked(request)

    def address_locked(self, request: HttpRequest) -> bool:
        since = get_cool_off_threshold(request)
        failures, _ = address_failures(request.axes_ip_address, since)
        return failures >= settings.ABM_LOGIN_ADDRESS_FAILURE_LIMIT

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs) -> None:
        already_locked = getattr(request, "axes_locked_out", False)
        super().user_login_failed(sender, credentials, request=request, **kwargs)
        if request is None or already_locked or request.axes_locked_out:
            return
        if self.address_locked(request):  # this failure reached the address limit
            request.axes_locked_out = True
            request.axes_credentials = credentials
            user_locked_out.send(
                "axes",
                request=request,
                username=credentials.get(settings.AXES_USERNAME_FORM_FIELD),
                ip_address=request.axes_ip_address,
            )
