"""Fixed-window rate limits in the shared cache (Redis in production).

The cache is shared by every web process, so a limit holds across workers; with
the local in-memory cache it holds per process, which is enough for development.
"""

import math
import time
from dataclasses import dataclass

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache


@dataclass(frozen=True)
class Limit:
    scope: str
    ident: str
    limit: int
    window_seconds: int = 60


def rate_limits_hit(limits: list[Limit]) -> int | None:
    """Count one request against each limit; return the seconds to wait when any
    is exceeded, else None. On Redis all counters move in one round trip."""
    now = time.time()
    keys = [
        f"rl:{item.scope}:{item.ident}:{int(now // item.window_seconds)}"
        for item in limits
    ]
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        counts = _redis_incr(cache, keys, limits)
    else:
        counts = [
            _cache_incr(cache, key, item)
            for key, item in zip(keys, limits, strict=True)
        ]
    waits = [
        max(1, math.ceil(item.window_seconds - now % item.window_seconds))
        for count, item in zip(counts, limits, strict=True)
        if count > item.limit
    ]
    return max(waits) if waits else None


def rate_limit_hit(
    *, scope: str, ident: str, limit: int, window_seconds: int = 60
) -> int | None:
    """Count one request; return the seconds to wait when over `limit`, else None."""
    return rate_limits_hit([Limit(scope, ident, limit, window_seconds)])


def _redis_incr(cache: RedisCache, keys: list[str], limits: list[Limit]) -> list[int]:
    client = cache._cache.get_client(write=True)
    pipe = client.pipeline(transaction=False)
    for key, item in zip(keys, limits, strict=True):
        full_key = cache.make_and_validate_key(key)
        pipe.incr(full_key)
        # Only the first hit of a window sets the expiry (NX: Redis 7).
        pipe.expire(full_key, item.window_seconds + 5, nx=True)
    results = pipe.execute()
    return [int(count) for count in results[::2]]


def _cache_incr(cache, key: str, item: Limit) -> int:
    if cache.add(key, 1, timeout=item.window_seconds + 5):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr: a new window began
        cache.add(key, 1, timeout=item.window_seconds + 5)
        return 1
