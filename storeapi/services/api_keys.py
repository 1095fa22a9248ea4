"""Creating and checking API keys. See docs/adr/0004-api-keys.md for why they look like this."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.utils import timezone

from storeapi.models import ApiKey

KEY_PREFIXES = {ApiKey.Kind.PUBLIC: "ss_pub_", ApiKey.Kind.READ: "ss_read_", ApiKey.Kind.WRITE: "ss_write_"}
# Writing last_used_at on every request would make each search a database write.
LAST_USED_RESOLUTION = timedelta(minutes=5)


def api_key_hash(key: str) -> str:
    # Keys carry 192 random bits, so a fast hash is safe: there is nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_create(
    *, name: str, kind: str, allowed_origins: list[str] | None = None, throttle_rate: str = ""
) -> tuple[ApiKey, str]:
    """A new key; returns the row and the key itself, which is not stored and cannot be shown again."""
    key = api_key_new_secret(kind)
    origins = [origin.rstrip("/") for origin in allowed_origins or []]
    api_key = ApiKey(name=name, kind=kind, allowed_origins=origins, throttle_rate=throttle_rate)
    api_key_set_secret(api_key, key)
    api_key.full_clean()
    api_key.save()
    return api_key, key


def api_key_revoke(*, api_key: ApiKey) -> bool:
    """Deactivate ``api_key`` (kept, so its name and last use stay on record); False if it already was.
    Keys are looked up on every request, so it is refused from its next request on."""
    if not api_key.is_active:
        return False
    api_key.is_active = False
    api_key.save(update_fields=["is_active"])
    return True


def api_key_new_secret(kind: str) -> str:
    return KEY_PREFIXES[ApiKey.Kind(kind)] + secrets.token_urlsafe(24)


def api_key_set_secret(api_key: ApiKey, key: str) -> None:
    """Store the hash of ``key`` (and its first characters, to recognise it) on ``api_key``."""
    api_key.prefix = key[: len(KEY_PREFIXES[ApiKey.Kind(api_key.kind)]) + 4]
    api_key.key_hash = api_key_hash(key)


def api_key_find(key: str) -> ApiKey | None:
    """The active key ``key``, or None. Looked up by hash (one indexed query, so a revoked key is
    refused from its next request on), so timing reveals nothing about stored keys."""
    if not key or len(key) > 200:
        return None
    api_key = ApiKey.objects.filter(key_hash=api_key_hash(key), is_active=True).first()
    return api_key if api_key is not None and _api_key_touch(api_key) else None


def _api_key_touch(api_key: ApiKey) -> bool:
    """Record the key's use (at most every LAST_USED_RESOLUTION); False when it was revoked since
    this request read it: the write is only for an active row, so a revocation that lands between
    the read and the write refuses the request instead of being raced."""
    now = timezone.now()
    if api_key.last_used_at is not None and now - api_key.last_used_at <= LAST_USED_RESOLUTION:
        return True
    if not ApiKey.objects.filter(pk=api_key.pk, is_active=True).update(last_used_at=now):
        return False
    api_key.last_used_at = now
    return True


def api_key_origin_allowed(api_key: ApiKey, origin: str | None) -> bool:
    """Public keys with allowed origins refuse browser requests from other origins."""
    if api_key.kind != ApiKey.Kind.PUBLIC or not api_key.allowed_origins or not origin:
        return True
    return origin.rstrip("/") in {allowed.rstrip("/") for allowed in api_key.allowed_origins}
