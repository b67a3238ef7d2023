"""API rate limits per token (or per signed-in user), counted in Redis atomically.

``ABM_API_RATE`` (``1200/min``) is the number of requests one token may make
in any trailing window of that length. With Redis (production) each check is
one Lua script: it drops the entries older than the window, counts the rest
and adds this request only when under the limit, all in one step, so
concurrent requests of the same token on any number of web processes cannot
both take the last place. (DRF's own throttle reads the history, appends and
writes it back: with 8 concurrent clients 2 to 3 times the rate got through.)
Other caches (the per-process memory cache of ``make run``) use DRF's
throttle. When the cache cannot be reached the limit is not enforced: reads
and writes keep working and a warning is logged, at most once a minute.
"""

import logging
import time
import uuid

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache
from redis.commands.core import Script
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from .models import ApiToken

logger = logging.getLogger("abm_site.security")
_last_warning = 0.0

#: KEYS[1] the counter; ARGV: limit, window in seconds, a unique member for this request.
#: Returns {1, "0"} when allowed, else {0, seconds until the oldest request leaves the window}.
SLIDING_WINDOW_SCRIPT = """
local key, limit, window = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('PEXPIRE', key, math.ceil(window * 1000))
  return {1, '0'}
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return {0, tostring(tonumber(oldest[2]) + window - now)}
"""


#: Sent by its SHA1 (EVALSHA), not as text on every request; loaded again where Redis lost it.
_SLIDING_WINDOW = Script(None, SLIDING_WINDOW_SCRIPT.encode())


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
            backend = caches[DEFAULT_CACHE_ALIAS]
            if self.rate is None or not isinstance(backend, RedisCache):
                return super().allow_request(request, view)
            return self._allow_atomically(backend, self.get_cache_key(request, view))
        except Exception as exc:  # any cache backend error: fail open, but say so
            global _last_warning
            if time.monotonic() - _last_warning > 60:
                _last_warning = time.monotonic()
                logger.warning("API rate limits are off: the cache is unreachable (%s)", exc)
            return True

    def _allow_atomically(self, backend: RedisCache, key: str) -> bool:
        full_key = backend.make_and_validate_key(key)
        client = backend._cache.get_client(full_key, write=True)
        allowed, wait = _SLIDING_WINDOW(
            keys=[full_key],
            args=[self.num_requests, self.duration, uuid.uuid4().hex],
            client=client,
        )
        self._wait = float(wait)
        return bool(allowed)

    def wait(self) -> float | None:
        if hasattr(self, "_wait"):
            return max(self._wait, 0.0)
        return super().wait()
