"""Answers a process keeps for a while, for hot reads whose source (the shared cache, the database,
a computation) costs more per request than the answer is worth recomputing.

Each user says how long its answers may be kept and why that is safe. Reads and writes are single
dict operations (atomic under the GIL), so threads share a memo without a lock. A full memo starts
again rather than tracking recency: cheaper per lookup, and these hold what every request asks for.
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ExpiringMemo(Generic[K, V]):
    def __init__(self, *, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V | None:
        """The value kept for ``key`` while it has not expired, else None."""
        entry = self._entries.get(key)
        if entry is None or entry[0] <= time.monotonic():
            return None
        return entry[1]

    def set(self, key: K, value: V, seconds: float) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + seconds, value)

    def forget(self, key: K) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()
