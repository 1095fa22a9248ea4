"""Django's Redis cache, failing safe: with Redis unreachable, every operation answers as a
cache that holds nothing (a miss, a write that did not happen) and logs one warning.

Everything this project keeps in the shared cache can be read again from the database (the
colour choices and the "no close match" threshold, search.selectors.stats_cached), so a
miss costs time, never an answer. Catching the error here, in one place, keeps every caller
plain Django: ``cache.get(key)`` is None whether the key expired or Redis is down.

After a failure the cache skips Redis for ``RETRY_AFTER_SECONDS`` instead of trying it on every
operation: a request makes several cache calls, and a Redis that is down behind a firewall costs
a connect timeout each time. The first call after that interval tries Redis again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)
T = TypeVar("T")


class FailSafeRedisCache(RedisCache):
    RETRY_AFTER_SECONDS = 2.0

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        # time.monotonic() before which Redis is not tried (one float, replaced whole by any thread).
        self._down_until = 0.0

    def _safely(self, operation: str, call: Callable[[], T], default: T) -> T:
        if time.monotonic() < self._down_until:
            return default
        try:
            return call()
        except RedisError as exc:
            self._down_until = time.monotonic() + self.RETRY_AFTER_SECONDS
            logger.warning(
                "cache %s failed, answering as a miss; Redis is not tried again for %.0f s: %s",
                operation, self.RETRY_AFTER_SECONDS, exc,
            )  # fmt: skip
            return default

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return self._safely("add", partial(super().add, key, value, timeout, version), False)

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return self._safely("get", partial(super().get, key, default, version), default)

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        self._safely("set", partial(super().set, key, value, timeout, version), None)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return self._safely("touch", partial(super().touch, key, timeout, version), False)

    def delete(self, key: Any, version: int | None = None) -> bool:
        return self._safely("delete", partial(super().delete, key, version), False)

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        return self._safely("get_many", partial(super().get_many, keys, version), {})

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return self._safely("has_key", partial(super().has_key, key, version), False)

    def set_many(self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> list[Any]:
        # Django's contract: the keys that were not stored.
        return self._safely("set_many", partial(super().set_many, data, timeout, version), list(data))

    def delete_many(self, keys: Any, version: int | None = None) -> None:
        self._safely("delete_many", partial(super().delete_many, keys, version), None)

    # incr/decr keep raising: their callers must know whether a count happened. clear() too:
    # a clear that silently did nothing would leave stale entries behind.
