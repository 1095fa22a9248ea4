"""storeapi/throttling.py: per-key rates counted in the real (embedded) Redis, one atomic round
trip per allowed request; DRF's cache-list throttle when the default cache is not Redis."""

from __future__ import annotations

import itertools
import logging
import threading

import pytest
import redis
from django.contrib.auth.models import AnonymousUser, User
from django.core.cache import caches
from redis.connection import AbstractConnection
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from storeapi.models import ApiKey
from storeapi.services.api_keys import api_key_create
from storeapi.throttling import ApiKeyRateThrottle, throttle_limiter
from tests.storeapi.conftest import client_with

pytestmark = pytest.mark.django_db

PRODUCTS = "/api/v1/products/"
SEARCH = "/api/v1/search/"
TIGHT = {"public": "1/min", "read": "3/min", "write": "1/min", "anonymous": "2/min"}
# Keys that exist only in memory, for calling the throttle directly (threads need no database).
_unsaved_key_ids = itertools.count(10**9)


def unsaved_key(throttle_rate: str) -> ApiKey:
    return ApiKey(pk=next(_unsaved_key_ids), name="In memory", kind="read", throttle_rate=throttle_rate)


def throttle_request(api_key: ApiKey) -> Request:
    request = Request(APIRequestFactory().get(PRODUCTS))
    request.user, request.auth = AnonymousUser(), api_key
    return request


@pytest.fixture
def redis_round_trips(monkeypatch):
    """Every command (or pipeline) that redis-py sends to a server, as the bytes sent: one send is
    one round trip."""
    sent: list[bytes] = []
    send = AbstractConnection.send_packed_command

    def counting_send(connection, command, check_health=True):
        sent.append(command if isinstance(command, bytes) else b"".join(command))
        return send(connection, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting_send)
    return sent


def test_a_key_gets_its_rate_then_429_with_retry_after_and_other_keys_are_unaffected(settings):
    settings.SNAPSHELF_API_THROTTLE_RATES = TIGHT
    _, key = api_key_create(name="Tight", kind="read")
    _, other = api_key_create(name="Other", kind="read")
    client = client_with(key)
    assert [client.get(PRODUCTS).status_code for _ in range(4)] == [200, 200, 200, 429]
    refused = client.get(PRODUCTS)
    retry_after = int(refused.headers["Retry-After"])
    assert 0 < retry_after <= 60
    error = refused.json()["error"]
    assert error["code"] == "throttled" and error["details"] == {"retry_after_seconds": retry_after}
    assert [client_with(other).get(PRODUCTS).status_code for _ in range(3)] == [200, 200, 200]


def test_a_keys_own_rate_overrides_its_kinds_default(settings):
    settings.SNAPSHELF_API_THROTTLE_RATES = {**TIGHT, "read": "1200/min"}
    _, stricter = api_key_create(name="Stricter", kind="read", throttle_rate="2/min")
    assert [client_with(stricter).get(PRODUCTS).status_code for _ in range(3)] == [200, 200, 429]
    settings.SNAPSHELF_API_THROTTLE_RATES = {**TIGHT, "read": "1/min"}
    _, generous = api_key_create(name="Generous", kind="read", throttle_rate="5/min")
    assert [client_with(generous).get(PRODUCTS).status_code for _ in range(6)] == [200] * 5 + [429]


def test_staff_sessions_are_not_throttled(client, settings, redis_round_trips):
    settings.SNAPSHELF_API_THROTTLE_RATES = {kind: "1/min" for kind in TIGHT}
    client.force_login(User.objects.create_superuser("staff", password="pw-12345-long"))
    assert all(client.get(PRODUCTS).status_code == 200 for _ in range(5))
    assert not any(b"EVALSHA" in command for command in redis_round_trips)


def test_callers_without_a_key_share_a_bucket_per_address(client, settings):
    settings.SNAPSHELF_API_ANONYMOUS_SEARCH = True
    settings.SNAPSHELF_API_THROTTLE_RATES = TIGHT  # anonymous: 2/min

    def search_from(address: str) -> int:
        # An empty body is refused (400) after the throttle has counted the request.
        return client.post(SEARCH, {}, content_type="application/json", REMOTE_ADDR=address).status_code

    assert [search_from("192.0.2.1") for _ in range(3)] == [400, 400, 429]
    assert [search_from("192.0.2.2") for _ in range(3)] == [400, 400, 429]


def test_public_keys_count_per_client_address_under_a_ceiling_per_key(client, settings):
    # A public key sits in page source: one copier must not use up the store's searches.
    settings.SNAPSHELF_API_THROTTLE_RATES = {**TIGHT, "public": "2/min", "public_ceiling": "5/min"}
    _, key = api_key_create(name="Shop front", kind="public")

    def search_from(address: str, forwarded: str = "") -> int:
        extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
        extra["HTTP_AUTHORIZATION"] = f"Bearer {key}"
        # An empty body is refused (400) after the throttle counted it.
        return client.post(SEARCH, {}, content_type="application/json", REMOTE_ADDR=address, **extra).status_code

    assert [search_from("192.0.2.1") for _ in range(3)] == [400, 400, 429]
    assert search_from("192.0.2.1", forwarded="198.51.100.9") == 429  # no trusted proxy: the header is ignored
    assert [search_from("192.0.2.2") for _ in range(3)] == [400, 400, 429]  # another shopper, own bucket
    assert search_from("192.0.2.3") == 400  # the fifth counted request
    assert search_from("192.0.2.4") == 429  # the key's ceiling, whatever the address
    settings.SNAPSHELF_TRUSTED_PROXY_COUNT = 1  # behind one proxy, its X-Forwarded-For names the client
    settings.SNAPSHELF_API_THROTTLE_RATES = {**TIGHT, "public": "2/min", "public_ceiling": "100/min"}
    assert [search_from("10.0.0.1", forwarded="198.51.100.7") for _ in range(3)] == [400, 400, 429]
    assert search_from("10.0.0.1", forwarded="198.51.100.8") == 400


def test_concurrent_requests_never_pass_more_than_the_rate():
    # DRF's throttle read the list of timestamps and wrote it back: requests that read it at the
    # same moment all passed. The Lua script counts and decides in one step inside Redis.
    request = throttle_request(unsaved_key("5/min"))
    threads_count = 24
    start = threading.Barrier(threads_count)
    allowed: list[bool] = []

    def hit() -> None:
        start.wait()
        allowed.append(ApiKeyRateThrottle().allow_request(request, None))

    threads = [threading.Thread(target=hit) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == threads_count and allowed.count(True) == 5


def test_one_redis_round_trip_per_allowed_request_two_per_refused(redis_round_trips):
    request = throttle_request(unsaved_key("2/min"))
    assert ApiKeyRateThrottle().allow_request(request, None)  # a fresh server loads the script first
    redis_round_trips.clear()
    assert ApiKeyRateThrottle().allow_request(request, None)
    assert len(redis_round_trips) == 1 and b"EVALSHA" in redis_round_trips[0]
    redis_round_trips.clear()
    refused = ApiKeyRateThrottle()
    assert not refused.allow_request(request, None)
    assert 0 < refused.wait() <= 60  # the Retry-After costs a second round trip, on refusals only
    assert len(redis_round_trips) == 2 and all(b"EVALSHA" in command for command in redis_round_trips)


def test_counts_live_under_the_caches_key_prefix(settings):
    request = throttle_request(unsaved_key("2/min"))
    ApiKeyRateThrottle().allow_request(request, None)
    cache = caches["default"]
    server = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    keys = [key.decode() for key in server.keys(f"*key-{request.auth.pk}/*")]
    assert keys and all(key.startswith(f"{cache.key_prefix}:throttle:") for key in keys)


def test_redis_errors_let_the_request_through_and_are_logged(settings, tmp_path, caplog):
    default = settings.CACHES["default"]
    settings.CACHES = {**settings.CACHES, "default": {**default, "LOCATION": f"unix://{tmp_path}/no-redis.sock"}}
    request = throttle_request(unsaved_key("1/min"))
    with caplog.at_level(logging.WARNING, logger="storeapi.throttling"):
        assert all(ApiKeyRateThrottle().allow_request(request, None) for _ in range(3))
    assert "Redis failed" in caplog.text


def test_a_default_cache_that_is_not_redis_keeps_drfs_throttle(settings):
    settings.CACHES = {
        **settings.CACHES,
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "throttle-test"},
    }
    assert throttle_limiter() is None
    settings.SNAPSHELF_API_THROTTLE_RATES = TIGHT
    _, key = api_key_create(name="Tight", kind="read")
    client = client_with(key)
    assert [client.get(PRODUCTS).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert 0 < int(client.get(PRODUCTS).headers["Retry-After"]) <= 60
