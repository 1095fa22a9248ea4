"""Creating and checking API keys. See docs/adr/0004-api-keys.md for why they look like this."""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import timedelta
from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from storeapi.models import ApiKey

KEY_PREFIXES = {ApiKey.Kind.PUBLIC: "ss_pub_", ApiKey.Kind.READ: "ss_read_", ApiKey.Kind.WRITE: "ss_write_"}
# Writing last_used_at on every request would make each search a database write.
LAST_USED_RESOLUTION = timedelta(minutes=5)
# Every API request looks its key up. The row is kept in this process for a few seconds so that
# requests need no query for it: saving or deleting a key (revoking one in the admin is a save)
# forgets it in the process that did so at once, other processes within KEY_CACHE_SECONDS (and
# queryset.update(), which sends no signal, takes effect within that time too). Unknown keys are
# not remembered, so the cache holds at most one entry per active key.
KEY_CACHE_SECONDS = 5.0
_keys_found: dict[str, tuple[float, ApiKey]] = {}


def api_key_hash(key: str) -> str:
    # Keys carry 192 random bits, so a fast hash is safe: there is nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_create(
    *, name: str, kind: str, allowed_origins: list[str] | None = None, throttle_rate: str = ""
) -> tuple[ApiKey, str]:
    """A new key; returns the row and the key itself, which is not stored and cannot be shown again."""
    key = api_key_new_secret(kind)
    api_key = ApiKey(name=name, kind=kind, allowed_origins=allowed_origins or [], throttle_rate=throttle_rate)
    api_key_set_secret(api_key, key)
    api_key.full_clean()
    api_key.save()
    return api_key, key


def api_key_new_secret(kind: str) -> str:
    return KEY_PREFIXES[ApiKey.Kind(kind)] + secrets.token_urlsafe(24)


def api_key_set_secret(api_key: ApiKey, key: str) -> None:
    """Store the hash of ``key`` (and its first characters, to recognise it) on ``api_key``."""
    api_key.prefix = key[: len(KEY_PREFIXES[ApiKey.Kind(api_key.kind)]) + 4]
    api_key.key_hash = api_key_hash(key)


def api_key_find(key: str) -> ApiKey | None:
    """The active key ``key``, or None. Looked up by hash, so timing reveals nothing about stored keys."""
    if not key or len(key) > 200:
        return None
    key_hash = api_key_hash(key)
    now = time.monotonic()
    expires, api_key = _keys_found.get(key_hash, (0.0, None))
    if api_key is None or expires <= now:
        api_key = ApiKey.objects.filter(key_hash=key_hash, is_active=True).first()
        if api_key is None:
            _keys_found.pop(key_hash, None)
            return None
        _keys_found[key_hash] = (now + KEY_CACHE_SECONDS, api_key)
    _api_key_touch(api_key)
    return api_key


@receiver([post_save, post_delete], sender=ApiKey, dispatch_uid="storeapi_api_key_forget")
def api_key_forget(sender: Any, instance: ApiKey, **kwargs: Any) -> None:
    """Drop a changed or deleted key from this process's cache of found keys."""
    _keys_found.pop(instance.key_hash, None)


def _api_key_touch(api_key: ApiKey) -> None:
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now


def api_key_origin_allowed(api_key: ApiKey, origin: str | None) -> bool:
    """Public keys with allowed origins refuse browser requests from other origins."""
    if api_key.kind != ApiKey.Kind.PUBLIC or not api_key.allowed_origins or not origin:
        return True
    return origin.rstrip("/") in {allowed.rstrip("/") for allowed in api_key.allowed_origins}
