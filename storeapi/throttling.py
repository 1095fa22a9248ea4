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

import logging
import time
from typing import Any

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.strategies import SlidingWindowCounterRateLimiter
from redis.exceptions import RedisError
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from search.rate_limits import rate_limiter
from search.request_guards import client_ip
from storeapi.conf import api_setting
from storeapi.models import ApiKey

logger = logging.getLogger(__name__)


# The limiter on the default cache's Redis is the storefront's too (search/rate_limits.py).
throttle_limiter = rate_limiter


class ApiKeyRateThrottle(SimpleRateThrottle):
    """One bucket per key, at the key's own rate or its kind's default; callers without a key
    share a bucket per address; staff sessions are not throttled.

    A public key sits in store pages for anyone to copy, so one client must not use up the
    store's searches: public keys get a bucket per key and client address (at the key's rate)
    and, above those, a ceiling for the key (``API_THROTTLE_RATES["public_ceiling"]``) that
    bounds what many addresses together may send. Addresses come from search.request_guards.client_ip
    (X-Forwarded-For only as far as SNAPSHELF_TRUSTED_PROXY_COUNT says)."""

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
        buckets: list[tuple[RateLimitItem, str]] = [
            (RateLimitItemPerSecond(num_requests, duration, namespace=self.scope), self._ident(request))
        ]
        ceiling = self._ceiling_for(request)
        if ceiling is not None:
            buckets.append(ceiling)
        try:
            for self.item, self.ident in buckets:
                if not limiter.hit(self.item, self.ident):
                    return False
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

    def _ceiling_for(self, request: Request) -> tuple[RateLimitItem, str] | None:
        if not isinstance(request.auth, ApiKey) or request.auth.kind != ApiKey.Kind.PUBLIC:
            return None
        rate = api_setting("API_THROTTLE_RATES").get("public_ceiling")
        if not rate:
            return None
        num_requests, duration = self.parse_rate(rate)
        assert num_requests is not None and duration is not None
        return RateLimitItemPerSecond(
            num_requests, duration, namespace=f"{self.scope}-ceiling"
        ), f"key-{request.auth.pk}"

    def _ident(self, request: Request) -> str:
        if not isinstance(request.auth, ApiKey):
            return f"addr-{self.get_ident(request)}"
        if request.auth.kind == ApiKey.Kind.PUBLIC:
            return f"key-{request.auth.pk}-addr-{self.get_ident(request)}"
        return f"key-{request.auth.pk}"

    def get_ident(self, request: Request) -> str:
        return client_ip(request)

    def get_cache_key(self, request: Request, view: Any) -> str:
        """The bucket's cache key on DRF's path (a cache that is not Redis)."""
        return f"throttle:{self.scope}:{self._ident(request)}"
