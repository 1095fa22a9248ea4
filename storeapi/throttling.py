"""Per-key request rates, counted in the default cache (Redis)."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from storeapi.conf import api_setting
from storeapi.models import ApiKey


class ApiKeyRateThrottle(SimpleRateThrottle):
    """One bucket per key, at the key's own rate or its kind's default; callers without a key
    share a bucket per address (staff sessions one per user)."""

    scope = "snapshelf-api"

    def __init__(self) -> None:
        # The rate depends on the request; it is parsed in allow_request.
        pass

    def allow_request(self, request: Request, view: Any) -> bool:
        self.rate = self._rate_for(request)
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def _rate_for(self, request: Request) -> str | None:
        rates = api_setting("API_THROTTLE_RATES")
        if isinstance(request.auth, ApiKey):
            return request.auth.throttle_rate or rates.get(request.auth.kind)
        if request.user and request.user.is_authenticated:
            return None  # staff in the admin
        return rates.get("anonymous")

    def get_cache_key(self, request: Request, view: Any) -> str:
        ident = f"key-{request.auth.pk}" if isinstance(request.auth, ApiKey) else f"addr-{self.get_ident(request)}"
        return f"throttle:{self.scope}:{ident}"
