"""Site-level views: health check."""

import threading
import time

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def _check_database() -> dict:
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not reachable"
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True, "ms": round((time.monotonic() - started) * 1000, 1)}


def _check_broker() -> dict:
    from abm_site.celery import app

    started = time.monotonic()
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # any transport error means "not reachable"
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True, "ms": round((time.monotonic() - started) * 1000, 1)}


#: The last broker check of this process: (when, result).
_broker_checked: list[tuple[float, dict]] = []
_broker_lock = threading.Lock()


def _check_broker_cached() -> dict:
    """The broker check, reused for ``ABM_HEALTH_CACHE_SECONDS``.

    Each check opens a broker connection; load balancers probe every few
    seconds from several places, so one check per process per few seconds
    answers them all. A failure is cached the same way (a dead broker would
    otherwise cost every probe its connect timeout) and shows within the TTL.
    """
    ttl = settings.ABM_HEALTH_CACHE_SECONDS
    now = time.monotonic()
    with _broker_lock:
        if _broker_checked and now - _broker_checked[0][0] < ttl:
            at, result = _broker_checked[0]
            return {**result, "age_s": round(now - at, 1)}
    result = _check_broker()
    with _broker_lock:
        _broker_checked[:] = [(now, result)]
    return result


@login_not_required
@never_cache
@require_GET
def healthz(request):
    """Database and broker reachability, for load balancers and the status page."""
    database = _check_database()
    broker = _check_broker_cached()
    checks = {"database": database, "broker": broker}
    if database["ok"]:
        # Informational checks (e.g. the last nightly recompute) from the apps, named in
        # settings so this module imports no app; they do not turn the answer into a 503.
        for name, path in settings.ABM_HEALTH_CHECKS.items():
            try:
                checks[name] = import_string(path)()
            except Exception as exc:  # a broken check must not break the health endpoint
                checks[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    ok = database["ok"] and broker["ok"]
    body = {
        "status": "ok" if ok else "unavailable",
        "checks": checks,
        "currency": settings.ABM_CURRENCY,
    }
    return JsonResponse(body, status=200 if ok else 503)
