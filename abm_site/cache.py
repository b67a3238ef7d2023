"""The Redis cache backend with one client per process, not one per call.

Django's ``RedisCache`` keeps a connection pool but builds a new
``redis.Redis`` client around it for every cache call (``get_client``):
a few dozen microseconds each, several times per API request (the KPI
cache, the throttle). Here each pool gets one client, built on first use
and shared; ``redis.Redis`` over a pool is thread-safe.
"""

from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.utils.functional import cached_property


class PooledRedisCacheClient(RedisCacheClient):
    """``RedisCacheClient`` whose ``get_client`` returns the same client for the same pool."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._client(connection_pool=self._get_connection_pool(write))
            self._clients[index] = client
        return client


class PooledRedisCache(RedisCache):
    """``django.core.cache.backends.redis.RedisCache`` with ``PooledRedisCacheClient``."""

    @cached_property
    def _cache(self) -> PooledRedisCacheClient:
        return PooledRedisCacheClient(self._servers, **self._options)
