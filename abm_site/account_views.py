"""Account pages: security (TOTP, sessions), second-factor check, password, API tokens.

Also the sign-in lockout page django-axes shows (``lockout_response``) and the
Django admin's sign-in, which sends users to the one sign-in page.
"""

import base64
import io
import math

import qrcode
import qrcode.image.svg
from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import AuthenticationForm
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp import match_token
from django_otp.plugins.otp_totp.models import TOTPDevice

from .authentication import address_failures
from .forms import ApiTokenCreateForm, OtpTokenForm
from .models import ApiToken
from .security import OTP_ENROLLED, client_ip
from .signals import session_record, sessions_end


def _safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME)
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


# --- Sign-in -----------------------------------------------------------------


def lockout_response(request: HttpRequest, original_response=None, credentials=None):
    """The sign-in page with when to retry, after too many failed sign-ins (429).

    The lock is either the user name's from this address or, after
    ``ABM_LOGIN_ADDRESS_FAILURE_LIMIT`` failures over any user names, the
    address's; the page says which.
    """
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    ip_address = getattr(request, "axes_ip_address", None) or client_ip(request)
    now = timezone.now()
    cool_off = get_cool_off(request)
    failures, address_last = address_failures(ip_address, now - cool_off)
    if failures >= settings.ABM_LOGIN_ADDRESS_FAILURE_LIMIT:
        last, limit, scope = address_last, settings.ABM_LOGIN_ADDRESS_FAILURE_LIMIT, "address"
    else:
        last = AccessAttempt.objects.filter(username=username, ip_address=ip_address).aggregate(
            last=Max("attempt_time")
        )["last"]
        limit, scope = settings.AXES_FAILURE_LIMIT, "username"
    retry_at = (last or now) + cool_off
    minutes = max(1, math.ceil((retry_at - now).total_seconds() / 60))
    context = {
        "form": AuthenticationForm(request, initial={"username": username}),
        "locked_out": True,
        "lockout_scope": scope,
        "retry_at": retry_at,
        "retry_minutes": minutes,
        "failure_limit": limit,
        "next": _safe_next(request, ""),
    }
    response = render(request, "registration/login.html", context, status=429)
    response["Retry-After"] = str(max(1, int((retry_at - now).total_seconds())))
    return response


@login_not_required
def admin_login(request: HttpRequest) -> HttpResponse:
    """The Django admin signs in through the one sign-in page (lockout, second factor)."""
    target = _safe_next(request, reverse("admin:index"))
    if request.user.is_authenticated:
        if request.user.is_staff:
            return redirect(target)
        messages.error(request, "The Django admin is for admins; your user is not staff.")
        return redirect(settings.LOGIN_REDIRECT_URL)
    return redirect(f"{reverse(settings.LOGIN_URL)}?{urlencode({REDIRECT_FIELD_NAME: target})}")


# --- Second factor -----------------------------------------------------------


def _qr_data_uri(text: str) -> str:
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=12)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


@require_http_methods(["GET", "HEAD", "POST"])
def account_security(request: HttpRequest) -> HttpResponse:
    """Enrol or remove an authenticator app; see and end your sessions."""
    user = request.user
    devices = TOTPDevice.objects.devices_for_user(user, confirmed=None)
    confirmed = [d for d in devices if d.confirmed]
    pending = next((d for d in devices if not d.confirmed), None)
    form = OtpTokenForm()
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "start" and not confirmed:
            TOTPDevice.objects.filter(user=user, confirmed=False).delete()
            TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
            return redirect("account_security")
        if action == "confirm" and pending is not None:
            form = OtpTokenForm(request.POST)
            if form.is_valid() and pending.verify_token(form.cleaned_data["otp_token"]):
                pending.confirmed = True
                pending.save(update_fields=["confirmed"])
                otp_login(request, pending)
                request.session[OTP_ENROLLED] = True
                ended = sessions_end([user.pk], keep=request.session.session_key)
                messages.success(
                    request,
                    "Two-factor sign-in is on: every sign-in now asks for a code"
                    + (f"; {ended} other session(s) were signed out." if ended else "."),
                )
                return redirect("account_security")
            if form.is_valid():
                form.add_error("otp_token", "That code is not valid; check the app's clock.")
        if action == "remove" and confirmed:
            form = OtpTokenForm(request.POST)
            if form.is_valid() and match_token(user, form.cleaned_data["otp_token"]):
                TOTPDevice.objects.filter(user=user).delete()
                request.session[OTP_ENROLLED] = False
                messages.success(request, "Two-factor sign-in is off.")
                return redirect("account_security")
            if form.is_valid():
                form.add_error("otp_token", "That code is not valid; the app was not removed.")
        if action == "end_sessions":
            ended = sessions_end([user.pk], keep=request.session.session_key)
            messages.success(request, f"Signed out {ended} other session(s).")
            return redirect("account_security")
    context = {
        "confirmed": confirmed,
        "pending": pending,
        "qr_uri": _qr_data_uri(pending.config_url) if pending else None,
        "secret": base64.b32encode(pending.bin_key).decode() if pending else None,
        "form": form,
        "sessions": user.web_sessions.all(),
        "current_key": request.session.session_key,
        "must_enrol": settings.ABM_REQUIRE_2FA_FOR_ADMINS
        and not confirmed
        and (user.is_staff or user.role == "admin"),
    }
    return render(request, "account/security.html", context)


@require_http_methods(["GET", "HEAD", "POST"])
def otp_verify(request: HttpRequest) -> HttpResponse:
    """Ask for the authenticator code after the password, once per session."""
    target = _safe_next(request, reverse(settings.LOGIN_REDIRECT_URL))
    if getattr(request.user, "is_verified", lambda: False)():
        return redirect(target)
    form = OtpTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = match_token(request.user, form.cleaned_data["otp_token"])
        if device is not None:
            otp_login(request, device)
            return redirect(target)
        form.add_error("otp_token", "That code is not valid. Wait for the next one and retry.")
    return render(request, "account/verify.html", {"form": form, "next": target})


# --- Password ----------------------------------------------------------------


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change; the signal ends the other sessions and revokes tokens."""

    template_name = "account/password_change.html"
    success_url = reverse_lazy("password_change_done")

    def form_valid(self, form):
        response = super().form_valid(form)  # keeps this session under a new key
        session_record(self.request, self.request.user)
        messages.success(
            self.request,
            "Your password was changed. Your other sessions were signed out and "
            "your API tokens were revoked; create new ones on “My API tokens”.",
        )
        return response


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "account/password_change_done.html"


# --- API tokens --------------------------------------------------------------


@require_http_methods(["GET", "HEAD", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    """The user's own API tokens; create one (its key is shown once)."""
    form = ApiTokenCreateForm(request.POST or None, user=request.user)
    new_key = None
    if request.method == "POST" and form.is_valid():
        _, new_key = ApiToken.issue(
            user=request.user,
            name=form.cleaned_data["name"],
            scope=form.cleaned_data["scope"],
            expires_at=form.expires_at(),
        )
        form = ApiTokenCreateForm(user=request.user)
    tokens = ApiToken.objects.filter(user=request.user).order_by("-created_at")
    response = render(
        request,
        "account/tokens.html",
        {"form": form, "tokens": tokens, "new_key": new_key, "now": timezone.now()},
    )
    if new_key:
        response["Cache-Control"] = "no-store"
    return response


@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """Revoke one of the user's own tokens."""
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    if token.revoked_at is None:
        ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
        messages.success(request, f"Token “{token.name}” ({token.prefix}…) was revoked.")
    return redirect("account_tokens")
