"""Creating and checking API keys. See docs/adr/0004-api-keys.md for why they look like this."""

from __future__ import annotations

import copy
import hashlib
import secrets
from datetime import timedelta

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from catalog.memo import ExpiringMemo
from storeapi.models import ApiKey

KEY_PREFIXES = {ApiKey.Kind.PUBLIC: "ss_pub_", ApiKey.Kind.READ: "ss_read_", ApiKey.Kind.WRITE: "ss_write_"}
# Writing last_used_at on every request would make each search a database write.
LAST_USED_RESOLUTION = timedelta(minutes=5)
# Every API request looks its key up. Found keys are kept in the shared cache (Redis) by hash, so
# requests need no query for them; saving or deleting a key (revoking one in the admin is a save)
# drops its entry at once and again when the change commits (storeapi/signals.py), in every
# process. Changes without a signal (queryset.update(), raw SQL) must call api_key_forget(), or
# take effect within KEY_CACHE_SECONDS. Unknown keys are not remembered.
KEY_CACHE_SECONDS = 300
# A process also keeps the keys it found for KEY_LOCAL_SECONDS (a shared cache read and its
# unpickling cost ~0.15 ms of every API request): a key revoked or changed in this process takes
# effect at once, one revoked in another process within this time.
KEY_LOCAL_SECONDS = 1.0
_found: ExpiringMemo[str, ApiKey] = ExpiringMemo(max_entries=10_000)


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
    The save's signal drops it from the caches of found keys (storeapi/signals.py)."""
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
    """The active key ``key``, or None. Looked up by hash, so timing reveals nothing about stored keys."""
    if not key or len(key) > 200:
        return None
    key_hash = api_key_hash(key)
    kept = _found.get(key_hash)
    if kept is not None:
        api_key = copy.copy(kept)
    else:
        found = cache.get(_cache_key(key_hash))
        if found is None:
            found = ApiKey.objects.filter(key_hash=key_hash, is_active=True).first()
            if found is None:
                return None
            cache.set(_cache_key(key_hash), found, KEY_CACHE_SECONDS)
        api_key = found
        _found.set(key_hash, copy.copy(api_key), KEY_LOCAL_SECONDS)
    _api_key_touch(api_key)
    return api_key


def api_key_forget(api_key: ApiKey) -> None:
    """Drop the key from the cache of found keys now and once the current transaction commits
    (a request in another process may cache the old row before then)."""
    key_hash = api_key.key_hash

    def forget() -> None:
        _found.forget(key_hash)
        cache.delete(_cache_key(key_hash))

    forget()
    transaction.on_commit(forget)


def _cache_key(key_hash: str) -> str:
    return f"snapshelf:storeapi:api-key:{key_hash}"


def _api_key_touch(api_key: ApiKey) -> None:
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
        cache.set(_cache_key(api_key.key_hash), api_key, KEY_CACHE_SECONDS)
        if (kept := _found.get(api_key.key_hash)) is not None:
            kept.last_used_at = now


def api_key_origin_allowed(api_key: ApiKey, origin: str | None) -> bool:
    """Public keys with allowed origins refuse browser requests from other origins."""
    if api_key.kind != ApiKey.Kind.PUBLIC or not api_key.allowed_origins or not origin:
        return True
    return origin.rstrip("/") in {allowed.rstrip("/") for allowed in api_key.allowed_origins}
