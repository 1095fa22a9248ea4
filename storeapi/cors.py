"""CORS for public keys' own origins, on top of django-cors-headers' ``CORS_ALLOWED_ORIGINS``.

A preflight request carries no API key, so it cannot be matched to one key: any origin listed on
an active public key passes the preflight, and ApiKeyAuthentication then refuses the key on any
origin not in its own list.
"""

from __future__ import annotations

import re
from typing import Any

from corsheaders.signals import check_request_enabled
from django.conf import settings
from django.dispatch import receiver
from django.http import HttpRequest

from storeapi.models import ApiKey


@receiver(check_request_enabled, dispatch_uid="storeapi_cors_public_key_origins")
def cors_origin_of_public_key(sender: Any, request: HttpRequest, **kwargs: Any) -> bool:
    origin = request.headers.get("Origin")
    if not origin or not re.match(getattr(settings, "CORS_URLS_REGEX", r"^/api/"), request.path_info):
        return False
    return ApiKey.objects.filter(
        kind=ApiKey.Kind.PUBLIC, is_active=True, allowed_origins__contains=[origin.rstrip("/")]
    ).exists()
