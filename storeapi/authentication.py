"""DRF authentication: API keys (``Authorization: Bearer <key>`` or ``X-Api-Key``) and staff sessions."""

from __future__ import annotations

import logging

from django.contrib.auth.models import AnonymousUser
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from storeapi.models import ApiKey
from storeapi.services.api_keys import api_key_find, api_key_origin_allowed

logger = logging.getLogger(__name__)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """``request.auth`` becomes the ApiKey; ``request.user`` stays anonymous (keys belong to no user)."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[AnonymousUser, ApiKey] | None:
        key = self._key_from(request)
        if key is None:
            return None
        api_key = api_key_find(key)
        if api_key is None:
            raise exceptions.AuthenticationFailed("The API key is not valid (unknown or revoked).")
        if not api_key_origin_allowed(api_key, request.headers.get("Origin")):
            logger.info(
                "API key %s used from origin %r, not in its allowed origins",
                api_key.prefix,
                request.headers.get("Origin"),
            )
            raise exceptions.PermissionDenied("This key may not be used from this origin.")
        return AnonymousUser(), api_key

    def _key_from(self, request: Request) -> str | None:
        header = request.headers.get("X-Api-Key")
        if header:
            return header.strip()
        parts = request.headers.get("Authorization", "").split()
        if len(parts) == 2 and parts[0].lower() == self.keyword.lower():
            return parts[1]
        return None

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class StaffSessionAuthentication(authentication.SessionAuthentication):
    """The admin's session, for staff only (CSRF checked as usual for unsafe methods)."""

    def authenticate(self, request: Request):  # type: ignore[no-untyped-def]
        result = super().authenticate(request)
        if result is None or not result[0].is_staff:
            return None
        return result
