"""Per-key request rates, counted in the default cache's Redis with one atomic round trip a request.

The counting is the ``limits`` library's sliding window counter: per key, two integers in Redis
(this window's count and the previous window's), read, weighed and incremented by one Lua script
(``EVALSHA``). One round trip, atomic, so concurrent requests cannot both take the last slot, and
O(1) memory per key whatever the rate. limits' moving window would count exactly but keeps one
timestamp per request in the window (a "100000/min" key holds a list of up to 100,000 entries),
which is what DRF's ``SimpleRateThrottle`` did, pickled whole on every request; the fixed window
is O(1) too but lets twice the rate through around a window boundary. The sliding window counter
approximates the moving window by assuming the previous window's requests were spread evenly.

A default cache that is not Redis (a project that configured another cache) keeps DRF's
``SimpleRateThrottle``: a list of timestamps read and written back through the cache, two round
trips and racy, but it needs nothing else.

Redis errors fail open: the request is let through and a warning is logged. A throttle is a guard
against runaway clients, not part of any answer, so losing Redis must not turn every API request
into an error (before this module, a cache error here was an unhandled exception, a 500).
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.core.signals import setting_changed
from django.dispatch import receiver
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import RedisStorage
from limits.strategies import SlidingWindowCounterRateLimiter
from redis.exceptions import RedisError
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from storeapi.conf import api_setting
from storeapi.models import ApiKey

logger = logging.getLogger(__name__)


@functools.cache
def throttle_limiter() -> SlidingWindowCounterRateLimiter | None:
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


@receiver(setting_changed, dispatch_uid="storeapi.throttle_limiter_reset")
def throttle_limiter_reset(*, setting: str, **kwargs: Any) -> None:
    """Follow the default cache when tests change CACHES, as Django's own cache handler does."""
    if setting == "CACHES":
        throttle_limiter.cache_clear()


class ApiKeyRateThrottle(SimpleRateThrottle):
    """One bucket per key, at the key's own rate or its kind's default; callers without a key
    share a bucket per address; staff sessions are not throttled."""

    scope = "snapshelf-api"

    def __init__(self) -> None:
        # The rate depends on the request; it is parsed in allow_request.
        self.item: RateLimitItem | None = None
        self.ident = ""

    def allow_request(self, request: Request, view: Any) -> bool:
        self.rate = self._rate_for(request)
        if self.rate is None:
            return True
        # DRF's parser: it accepts what the settings and ApiKey.throttle_rate do ("120/min",
        # "5/s", "1/hour"); limits' own parse() refuses the abbreviations "min", "s", "h".
        num_requests, duration = self.parse_rate(self.rate)
        assert num_requests is not None and duration is not None  # None only for a None rate
        self.num_requests, self.duration = num_requests, duration  # DRF's path reads them
        limiter = self._limiter()
        if limiter is None:
            return super().allow_request(request, view)
        self.ident = self._ident(request)
        self.item = RateLimitItemPerSecond(num_requests, duration, namespace=self.scope)
        try:
            return limiter.hit(self.item, self.ident)
        except RedisError as exc:
            logger.warning("API throttle not applied, Redis failed (request let through): %s", exc)
            return True

    def wait(self) -> float | None:
        """Seconds until the bucket takes a request again (the Retry-After header). Asked only
        after a refusal, so a refused request costs a second round trip; an allowed one does not."""
        limiter = self._limiter()
        if limiter is None or self.item is None:  # DRF's path
            return super().wait()
        try:
            reset_at, _ = limiter.get_window_stats(self.item, self.ident)
        except RedisError as exc:
            logger.warning("API throttle could not read its window, Redis failed: %s", exc)
            return self.duration
        # The sliding window frees slots gradually: this is the next moment the count drops, so a
        # client that waits this long may still be refused once more when its window was full.
        return max(reset_at - time.time(), 1.0)

    def _limiter(self) -> SlidingWindowCounterRateLimiter | None:
        return throttle_limiter()

    def _rate_for(self, request: Request) -> str | None:
        rates = api_setting("API_THROTTLE_RATES")
        if isinstance(request.auth, ApiKey):
            return request.auth.throttle_rate or rates.get(request.auth.kind)
        if request.user and request.user.is_authenticated:
            return None  # staff in the admin
        return rates.get("anonymous")

    def _ident(self, request: Request) -> str:
        return f"key-{request.auth.pk}" if isinstance(request.auth, ApiKey) else f"addr-{self.get_ident(request)}"

    def get_cache_key(self, request: Request, view: Any) -> str:
        """The bucket's cache key on DRF's path (a cache that is not Redis)."""
        return f"throttle:{self.scope}:{self._ident(request)}"
