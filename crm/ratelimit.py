"""Fixed-window rate limits in the shared cache (Redis in production).

The cache is shared by every web process, so a limit holds across workers; with
the local in-memory cache it holds per process, which is enough for development.
"""

import math
import time

from django.core.cache import cache


def rate_limit_hit(
    *, scope: str, ident: str, limit: int, window_seconds: int = 60
) -> int | None:
    """Count one request; return the seconds to wait when over `limit`, else None."""
    now = time.time()
    bucket = int(now // window_seconds)
    key = f"rl:{scope}:{ident}:{bucket}"
    if cache.add(key, 1, timeout=window_seconds + 5):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr: a new window began
            cache.add(key, 1, timeout=window_seconds + 5)
            count = 1
    if count <= limit:
        return None
    return max(1, math.ceil(window_seconds - now % window_seconds))
