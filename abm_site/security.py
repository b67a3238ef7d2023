"""Security and reliability middleware.

* ``BodyLimitMiddleware``: 413 with a JSON message for bodies over the limits.
* ``DatabaseUnavailableMiddleware`` and ``server_error``: 503 (JSON or HTML,
  with ``Retry-After``) while PostgreSQL is unreachable.
* ``ReportTimeoutMiddleware``: report reads run under ``ABM_REPORT_TIMEOUT_SECONDS``.
* ``SessionTimeoutMiddleware``: idle and absolute session timeouts.
* ``AccessMiddleware``: the access matrix (``abm_site.access``) for pages and
  the admin, and the second-factor gate.
"""

import logging
import sys
import threading
import time

from django.conf import settings
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError, connection
from django.db.backends.signals import connection_created
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import urlencode
from django.views import defaults

from . import access
from .db import StatementTimeout, is_query_canceled, is_write_conflict

logger = logging.getLogger(__name__)

LOGIN_AT = "abm_login_at"
SEEN_AT = "abm_seen_at"
EXPIRED = "abm_session_expired"
OTP_ENROLLED = "abm_otp_enrolled"
#: Seconds between two writes of the last-activity time (saves a query per request).
SEEN_RESOLUTION = 60
RETRY_AFTER_SECONDS = 30


def client_ip(request: HttpRequest) -> str | None:
    """The client address: REMOTE_ADDR, or X-Forwarded-For behind trusted proxies.

    With ``ABM_TRUSTED_PROXY_COUNT = n`` the n-th address from the right of
    X-Forwarded-For is the client (each trusted proxy appends one address), so
    a client cannot spoof it by sending its own header.
    """
    proxies = settings.ABM_TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies > 0 and forwarded:
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if len(hops) >= proxies:
            return hops[-proxies]
    return request.META.get("REMOTE_ADDR")


def wants_json(request: HttpRequest) -> bool:
    """API requests and clients that ask for JSON get JSON error bodies."""
    accept = request.META.get("HTTP_ACCEPT", "")
    return request.path_info.startswith("/api/") or (
        "application/json" in accept and "text/html" not in accept
    )


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def too_large_response(size: int | None, limit: int, setting: str) -> JsonResponse:
    """413 with a JSON message naming the size, the limit and its setting."""
    got = f"The request body is {_megabytes(size)}; " if size is not None else ""
    return JsonResponse(
        {
            "detail": f"{got}the limit is {_megabytes(limit)} ({setting}). "
            "Send a smaller file or split the request into several.",
            "limit_bytes": limit,
        },
        status=413,
    )


class BodyLimitMiddleware:
    """Refuse bodies over ``ABM_MAX_JSON_BYTES`` (JSON, forms) or ``ABM_MAX_UPLOAD_BYTES``.

    Checked on Content-Length before anything reads the body; a body Django
    refuses later (``RequestDataTooBig``) gets the same JSON 413.
    """

    JSON_TYPES = ("application/json", "application/x-www-form-urlencoded")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        length = request.META.get("CONTENT_LENGTH")
        if length:
            try:
                size = int(length)
            except ValueError:
                return JsonResponse({"detail": "Content-Length is not a number."}, status=400)
            content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
            if content_type in self.JSON_TYPES or content_type.endswith("+json"):
                limit, setting = settings.ABM_MAX_JSON_BYTES, "ABM_MAX_JSON_BYTES"
            else:
                limit, setting = settings.ABM_MAX_UPLOAD_BYTES, "ABM_MAX_UPLOAD_BYTES"
            if size > limit:
                logger.warning("Refused a %d-byte %s body to %s", size, content_type, request.path)
                return too_large_response(size, limit, setting)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if isinstance(exception, RequestDataTooBig):
            return too_large_response(
                None, settings.DATA_UPLOAD_MAX_MEMORY_SIZE, "ABM_MAX_JSON_BYTES"
            )
        return None


def unavailable_response(request: HttpRequest, exception: Exception) -> HttpResponse:
    """503 with Retry-After, JSON for the API, a page without database access otherwise."""
    if is_query_canceled(exception):
        message = (
            f"This view took longer than {settings.ABM_REPORT_TIMEOUT_SECONDS:g} s. "
            "Choose a shorter period or narrower filters and try again."
        )
    else:
        message = "The database is unavailable right now. Please try again in a minute."
    if wants_json(request):
        response: HttpResponse = JsonResponse({"detail": message}, status=503)
    else:
        html = render_to_string("account/unavailable.html", {"message": message})
        response = HttpResponse(html, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def conflict_response(request: HttpRequest) -> HttpResponse:
    """409 with Retry-After: the write lost a race with concurrent writes; nothing was stored."""
    message = (
        "This write collided with concurrent writes of the same rows and nothing of it was "
        "stored. Send it again in a moment (rows stored meanwhile will count as duplicates)."
    )
    if wants_json(request):
        response: HttpResponse = JsonResponse({"detail": message}, status=409)
    else:
        html = render_to_string("account/unavailable.html", {"message": message})
        response = HttpResponse(html, status=409)
    response["Retry-After"] = "1"
    return response


def is_database_outage(exception: BaseException | None) -> bool:
    return isinstance(exception, OperationalError | InterfaceError)


class DatabaseUnavailableMiddleware:
    """Turn a lost database connection in a view into a 503 instead of a 500.

    Errors raised in middleware (loading the session, the user) are handled by
    ``server_error``, the URLconf's ``handler500``. Django's
    ``CONN_HEALTH_CHECKS`` drops the broken connection at the start of the next
    request, so the app recovers without a restart.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if is_write_conflict(exception):
            logger.warning("Write conflict on %s %s: %s", request.method, request.path, exception)
            return conflict_response(request)
        if is_database_outage(exception):
            logger.error("Database error on %s %s: %s", request.method, request.path, exception)
            return unavailable_response(request, exception)
        return None


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: 503 for database outages raised outside views, else Django's 500."""
    exception = sys.exc_info()[1]
    if is_database_outage(exception):
        return unavailable_response(request, exception)
    if wants_json(request):
        return JsonResponse({"detail": "Server error."}, status=500)
    return defaults.server_error(request)


class SessionTimeoutMiddleware:
    """End sessions idle for ``SESSION_IDLE_TIMEOUT`` or older than ``SESSION_ABSOLUTE_TIMEOUT``.

    The sign-in time and the last activity are kept in the session; the last
    activity is written at most once a minute so a page view costs no extra
    query.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        if session is not None and SESSION_KEY in session:
            self._check(request, session)
        return self.get_response(request)

    def _check(self, request: HttpRequest, session) -> None:
        now = int(time.time())
        login_at = session.setdefault(LOGIN_AT, now)
        seen_at = session.get(SEEN_AT, login_at)
        reason = None
        if now - seen_at > settings.SESSION_IDLE_TIMEOUT:
            reason = "idle"
        elif now - login_at > settings.SESSION_ABSOLUTE_TIMEOUT:
            reason = "absolute"
        if reason:
            user_id = session.get(SESSION_KEY)
            logger.info("Session of user %s ended: %s timeout", user_id, reason)
            logout(request)
            request.session[EXPIRED] = reason
        elif now - seen_at >= SEEN_RESOLUTION or SEEN_AT not in session:
            session[SEEN_AT] = now


def second_factor_needed(request: HttpRequest) -> str | None:
    """``"verify"`` or ``"enrol"`` when the user must pass a TOTP check first, else None.

    A user who enrolled a device must verify it at every sign-in; with
    ``ABM_REQUIRE_2FA_FOR_ADMINS`` admins (and staff) must enrol one.
    """
    user = request.user
    if not user.is_authenticated or getattr(user, "is_verified", lambda: False)():
        return None
    enrolled = request.session.get(OTP_ENROLLED)
    if enrolled is None:
        from django_otp import user_has_device

        enrolled = request.session[OTP_ENROLLED] = user_has_device(user)
    if enrolled:
        return "verify"
    if settings.ABM_REQUIRE_2FA_FOR_ADMINS and (user.is_staff or user.role == access.ADMIN):
        return "enrol"
    return None


class AccessMiddleware:
    """Apply the access matrix to pages and the admin, and the second-factor gate.

    The API is left to DRF's ``RolePermission`` (tokens authenticate inside
    DRF), except that a session without its second factor cannot use it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        match = request.resolver_match
        rule = access.rule_for(match.route) if match is not None else None
        if rule is None:
            logger.error("Route %r is not in the access matrix", match and match.route)
            return self.deny(request, "This address is not in the access table.")
        if rule.is_api:
            return self.api_gate(request, rule)
        level = rule.level_for(request.method)
        if level is None:
            return HttpResponseNotAllowed(["GET", "HEAD", "OPTIONS"])
        if level == access.ANONYMOUS:
            return None
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if rule.second_factor:
            needed = second_factor_needed(request)
            if needed == "verify":
                url = reverse("otp_verify") + "?" + urlencode({"next": request.get_full_path()})
                return redirect(url)
            if needed == "enrol":
                return redirect("account_security")
        if not access.allows(level, request.user):
            return self.deny(
                request,
                f"Your role ({access.user_level(request.user).replace('_', ' ')}) "
                f"does not allow this; it needs {level}.",
            )
        return None

    def api_gate(self, request: HttpRequest, rule: access.Rule):
        """Sessions (not tokens) must have passed the second factor to use the API."""
        if "HTTP_AUTHORIZATION" in request.META or not rule.second_factor:
            return None
        if second_factor_needed(request):
            return JsonResponse(
                {"detail": "Verify your second factor at /account/verify/ first."},
                status=403,
            )
        return None

    @staticmethod
    def deny(request: HttpRequest, message: str) -> HttpResponse:
        if wants_json(request):
            return JsonResponse({"detail": message}, status=403)
        return render(request, "account/denied.html", {"message": message}, status=403)


__all__ = [
    "AccessMiddleware",
    "BodyLimitMiddleware",
    "DatabaseUnavailableMiddleware",
    "SessionTimeoutMiddleware",
    "client_ip",
    "server_error",
]


class ReportTimeoutMiddleware:
    """Report reads (pages, KPI API, exports, drill-downs) run under a statement timeout.

    A report on a pathological data shape (an account with hundreds of
    thousands of touches) could otherwise run until gunicorn kills the worker
    and the client gets an empty 500. Every ``GET``/``HEAD`` of a view in the
    ``reports`` app sets PostgreSQL's ``statement_timeout`` to
    ``ABM_REPORT_TIMEOUT_SECONDS`` (below gunicorn's ``WEB_TIMEOUT``); a query
    past it is cancelled and ``DatabaseUnavailableMiddleware`` answers a 503
    that says to narrow the period or filters. Other requests (imports,
    writes) run without the limit. The setting is per connection and kept
    across requests (persistent connections), so it is sent only when it
    changes: a report after a report costs no query. Streamed CSV exports
    keep the limit while they stream.

    The limit holds for the whole request, not only for each statement: a
    page of several slow queries must not add up past gunicorn's timeout
    either. Once a report has used a tenth of its time, each further query
    runs under what is left (one ``set_config`` where the remainder shrank),
    and no query starts once the time is up; a fast report sends nothing
    extra.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with connection.execute_wrapper(_ReportDeadline(request)):
            return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        if connection.vendor != "postgresql":
            return None
        owner = getattr(view_func, "cls", None) or getattr(view_func, "view_class", view_func)
        is_report = request.method in ("GET", "HEAD") and owner.__module__.startswith("reports.")
        ms = int(settings.ABM_REPORT_TIMEOUT_SECONDS * 1000) if is_report else 0
        _connection_statement_timeout(ms)
        if is_report:
            request._report_deadline = (time.monotonic() + ms / 1000, ms)
        return None


class _ReportDeadline:
    """An execute wrapper: a report's queries share one time budget (see the middleware)."""

    def __init__(self, request: HttpRequest):
        self.request = request
        self.set_ms: int | None = None  # the limit this request last set

    def __call__(self, execute, sql, params, many, context):
        deadline = getattr(self.request, "_report_deadline", None)
        if deadline is not None and not str(sql).lstrip()[:15].upper().startswith("SET TRANSACT"):
            ends, limit_ms = deadline
            left_ms = int((ends - time.monotonic()) * 1000)
            if left_ms <= 0:
                raise StatementTimeout(f"The report used up its {limit_ms} ms.")
            if left_ms < (self.set_ms or limit_ms) * 0.9:  # a tenth of the budget is spent
                context["cursor"].cursor.execute(  # the driver's cursor: no wrappers
                    "SELECT set_config('statement_timeout', %s, false)", [f"{left_ms}ms"]
                )
                self.set_ms = left_ms
                # Unknown (-1) inside a transaction, whose rollback would undo it: reset next time.
                _timeout_state.ms = -1 if connection.in_atomic_block else left_ms
        return execute(sql, params, many, context)


#: The statement timeout this thread last set on its connection (absent: unknown).
_timeout_state = threading.local()


def _forget_statement_timeout(sender, connection, **kwargs) -> None:
    _timeout_state.ms = None  # a new connection starts with the server's default


connection_created.connect(_forget_statement_timeout)


def _connection_statement_timeout(ms: int) -> None:
    """Set the connection's ``statement_timeout`` (0: none) unless it is set already.

    Inside a transaction a limit is sent every time: a rollback undoes it.
    """
    known = getattr(_timeout_state, "ms", None)
    if ms == 0 and known in (None, 0):
        return  # a new connection has the server's default; nothing to undo
    if known == ms and not connection.in_atomic_block:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('statement_timeout', %s, false)", [f"{ms}ms"])
    _timeout_state.ms = None if connection.in_atomic_block else ms
