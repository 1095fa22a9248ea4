"""The process-local memo the hot reads share (catalog/memo.py)."""

from __future__ import annotations

from types import SimpleNamespace

from catalog import memo
from catalog.memo import ExpiringMemo


def test_values_expire_are_forgotten_and_a_full_memo_starts_again(monkeypatch):
    clock = SimpleNamespace(monotonic=lambda: 100.0)
    monkeypatch.setattr(memo, "time", clock)
    kept: ExpiringMemo[str, int] = ExpiringMemo(max_entries=2)
    kept.set("a", 1, seconds=5)
    assert kept.get("a") == 1 and kept.get("b") is None
    clock.monotonic = lambda: 105.0
    assert kept.get("a") is None  # expired at 100 + 5
    kept.set("a", 2, seconds=5)
    kept.set("b", 3, seconds=5)
    kept.forget("b")
    assert kept.get("b") is None and kept.get("a") == 2
    kept.set("b", 3, seconds=5)
    kept.set("c", 4, seconds=5)  # full (2 entries): starts again with just this one
    assert (kept.get("a"), kept.get("b"), kept.get("c")) == (None, None, 4)
    kept.clear()
    assert kept.get("c") is None
