"""config/redis_cache.py: Django's Redis cache, reusing its client."""

from __future__ import annotations

import threading

from django.core.cache import cache, caches

from config.redis_cache import RedisCache


def test_the_cache_reuses_one_client_and_still_works_across_threads():
    default = caches["default"]
    assert isinstance(default, RedisCache)
    backend = default._cache
    assert backend.get_client(write=True) is backend.get_client("any key")

    cache.set("redis-cache-test", {"n": 1}, 30)
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(cache.get("redis-cache-test"))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [{"n": 1}] * 4
    assert cache.delete("redis-cache-test") and cache.get("redis-cache-test") is None
