"""The API throttle: limits' sliding window counter (shipped) against DRF's SimpleRateThrottle
over the same Redis cache (what it replaced, and what a non-Redis cache still gets), in one run.

    python -m benchmarks.throttle [--calls 2000] [--threads 24]

Reports, for each: ``ApiKeyRateThrottle().allow_request`` time (p50, p90, and p50 over the last
fifth of the calls, when DRF's list of timestamps is longest), Redis round trips per call counted
in redis-py (one send of a command or pipeline is one round trip) and the commands the server
counted (INFO commandstats, which counts the commands a Lua script runs inside Redis as well as
the EVALSHA that ran it), and how many of ``--threads`` simultaneous requests at 5/min passed.

Uses config.settings.test's throwaway embedded Redis; no database is started or touched (the
keys are in memory only).
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
# Nothing here queries the database; a placeholder keeps the settings from starting Postgres.
os.environ.setdefault("DATABASE_URL", "postgres://unused@127.0.0.1:1/unused")

import django

django.setup()

import redis  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth.models import AnonymousUser  # noqa: E402
from django.core.cache import cache  # noqa: E402
from redis.connection import AbstractConnection  # noqa: E402
from rest_framework.request import Request  # noqa: E402
from rest_framework.test import APIRequestFactory  # noqa: E402

from storeapi.models import ApiKey  # noqa: E402
from storeapi.throttling import ApiKeyRateThrottle  # noqa: E402

key_ids = itertools.count(1)


class DrfListThrottle(ApiKeyRateThrottle):
    """The same class on DRF's path: a list of timestamps read and written back through the cache."""

    def _limiter(self) -> None:
        return None


THROTTLES: dict[str, type[ApiKeyRateThrottle]] = {"drf list (before)": DrfListThrottle, "limits": ApiKeyRateThrottle}


def request_with_key(rate: str) -> Request:
    request = Request(APIRequestFactory().get("/api/v1/products/"))
    request.user = AnonymousUser()
    request.auth = ApiKey(pk=next(key_ids), name="benchmark", kind="read", throttle_rate=rate)
    return request


@contextmanager
def round_trips_counted() -> Iterator[list[int]]:
    counted = [0]
    send = AbstractConnection.send_packed_command

    def counting_send(connection: AbstractConnection, command: object, check_health: bool = True) -> None:
        counted[0] += 1
        send(connection, command, check_health)

    AbstractConnection.send_packed_command = counting_send  # type: ignore[method-assign]
    try:
        yield counted
    finally:
        AbstractConnection.send_packed_command = send  # type: ignore[method-assign]


def server_commands() -> dict[str, int]:
    stats = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"]).info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


def timings(calls: int) -> dict[str, list[float]]:
    """Microseconds per allow_request, the two throttles interleaved so that both see the same machine."""
    requests = {name: request_with_key("100000/min") for name in THROTTLES}
    spent: dict[str, list[float]] = {name: [] for name in THROTTLES}
    for _ in range(calls):
        for name, throttle in THROTTLES.items():
            start = time.perf_counter()
            allowed = throttle().allow_request(requests[name], None)
            spent[name].append((time.perf_counter() - start) * 1e6)
            assert allowed
    return spent


def round_trips(throttle: type[ApiKeyRateThrottle], calls: int = 100) -> tuple[float, dict[str, int]]:
    request = request_with_key("100000/min")
    throttle().allow_request(request, None)  # loads the Lua script on a fresh server
    before = server_commands()
    with round_trips_counted() as counted:
        for _ in range(calls):
            throttle().allow_request(request, None)
    after = server_commands()
    changed = {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}
    changed.pop("info")  # server_commands' own
    return counted[0] / calls, changed


def concurrent_passes(throttle: type[ApiKeyRateThrottle], threads_count: int) -> int:
    request = request_with_key("5/min")
    start = threading.Barrier(threads_count)
    allowed: list[bool] = []

    def hit() -> None:
        start.wait()
        allowed.append(throttle().allow_request(request, None))

    threads = [threading.Thread(target=hit) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return allowed.count(True)


def report(name: str, micros: list[float], trips: tuple[float, dict[str, int]], passes: list[int]) -> None:
    ordered = sorted(micros)
    tail = micros[-len(micros) // 5 :]
    print(
        f"{name:18} p50 {statistics.median(micros):6.0f} us  p90 {ordered[int(len(ordered) * 0.9)]:6.0f} us  "
        f"p50 last fifth {statistics.median(tail):6.0f} us  round trips/call {trips[0]:.2f}  "
        f"server commands per 100 calls {trips[1]}  passes at 5/min: {passes}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=24)
    args = parser.parse_args()
    cache.clear()
    spent = timings(args.calls)
    print(f"{args.calls} allowed calls each at 100000/min; {args.threads} threads x 5 rounds at 5/min")
    for name, throttle in THROTTLES.items():
        passes = [concurrent_passes(throttle, args.threads) for _ in range(5)]
        report(name, spent[name], round_trips(throttle), passes)
    cache.clear()


if __name__ == "__main__":
    main()
