"""API rate limits per token (or per signed-in user), counted in the cache.

The counters live in Django's default cache (Redis in production). When the
cache cannot be reached the limit is not enforced: reads and writes keep
working and a warning is logged, at most once a minute.
"""

import logging
import time

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from .models import ApiToken

logger = logging.getLogger("abm_site.security")
_last_warning = 0.0


class ApiRateThrottle(SimpleRateThrottle):
    """``ABM_API_RATE`` requests per token; session users are counted per user."""

    scope = "api"

    def get_rate(self) -> str | None:
        # Read at request time, so a changed REST_FRAMEWORK setting applies.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view) -> str:
        if isinstance(request.auth, ApiToken):
            ident = f"token:{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except Exception as exc:  # any cache backend error: fail open, but say so
            global _last_warning
            if time.monotonic() - _last_warning > 60:
                _last_warning = time.monotonic()
                logger.warning("API rate limits are off: the cache is unreachable (%s)", exc)
            return True
