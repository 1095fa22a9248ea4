"""Request rates counted in the default cache's Redis, for the storefront's searches (here) and the
API's keys (storeapi/throttling.py): the ``limits`` library's sliding window counter, one atomic
round trip a hit (docs/adr/0007-api-throttle-in-redis.md).

The storefront limits searches per client address (search.request_guards.client_ip): a new photo
(a POST: decode and embed on the web server's CPU) by ``SNAPSHELF_STOREFRONT_PHOTO_RATE``, any other
search page (words, filters, pages of a photo) by ``SNAPSHELF_STOREFRONT_WORDS_RATE``. "0" or ""
turns a limit off. Redis errors let the request through with a log line: a limit guards against
runaway clients, it is not part of any answer.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import SlidingWindowCounterRateLimiter
from redis.exceptions import RedisError

from search.conf import search_setting
from search.request_guards import client_ip

logger = logging.getLogger(__name__)

RATE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|second|m|min|minute|h|hour|d|day)\s*$")
SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@functools.cache
def rate_limiter() -> SlidingWindowCounterRateLimiter | None:
    """The rate limiter on the default cache's Redis, built once per process; None when the
    default cache is not Django's Redis backend. It talks to the cache's primary server (the
    first of its LOCATION, the one Django writes to) with the cache's OPTIONS, through its own
    redis-py connection pool, and counts under the cache's key prefix."""
    cache = caches["default"]
    if not isinstance(cache, RedisCache):
        return None
    config = settings.CACHES["default"]
    location = config["LOCATION"]
    servers = location.split(",") if isinstance(location, str) else list(location)
    options = {key: value for key, value in config.get("OPTIONS", {}).items() if key not in _NOT_POOL_OPTIONS}
    prefix = f"{cache.key_prefix or 'snapshelf'}:throttle"
    return SlidingWindowCounterRateLimiter(RedisStorage(servers[0].strip(), key_prefix=prefix, **options))


# Django's RedisCache OPTIONS that choose its own classes rather than configure the connection.
_NOT_POOL_OPTIONS = {"parser_class", "pool_class", "serializer"}


@functools.cache
def _memory_limiter() -> SlidingWindowCounterRateLimiter:
    # A project whose cache is not Redis: counted per process, which still stops a runaway client.
    return SlidingWindowCounterRateLimiter(MemoryStorage())


@receiver(setting_changed, dispatch_uid="search.rate_limiter_reset")
def rate_limiter_reset(*, setting: str, **kwargs: Any) -> None:
    """Follow the default cache when tests change CACHES, as Django's own cache handler does."""
    if setting == "CACHES":
        rate_limiter.cache_clear()


def rate_parse(rate: str | None) -> RateLimitItem | None:
    """``"20/m"``, ``"20/min"``, ``"5/s"``, ``"100/hour"`` as a limits item; None for "0" or ""."""
    if not rate or str(rate).strip() in ("0", ""):
        return None
    match = RATE.match(str(rate))
    if match is None:
        raise ValueError(f"{rate!r} is not a rate such as 20/m")
    count, unit = int(match[1]), match[2][0]
    return RateLimitItemPerSecond(count, SECONDS[unit], namespace="storefront") if count else None


def storefront_search_limited(request: HttpRequest, *, photo: bool) -> float | None:
    """Count this search against its client's limit; seconds to wait when over it, else None."""
    item = rate_parse(search_setting("STOREFRONT_PHOTO_RATE" if photo else "STOREFRONT_WORDS_RATE"))
    if item is None:
        return None
    limiter = rate_limiter() or _memory_limiter()
    ident = ("photo" if photo else "words", client_ip(request))
    try:
        if limiter.hit(item, *ident):
            return None
        reset_at, _ = limiter.get_window_stats(item, *ident)
    except RedisError as exc:
        logger.warning("storefront search limit not applied, Redis failed (request let through): %s", exc)
        return None
    return max(reset_at - time.time(), 1.0)
