"""Search records made directly, at chosen times, for the dashboard and drift tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from insights.models import ResultOpen, SearchEvent


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def search_event(day: dt.date, **fields: Any) -> SearchEvent:
    values: dict[str, Any] = {
        "channel": "storefront", "kind": "words", "text": "", "results": 1, "product_ids": [],
        "latency_ms": 10.0, "created_at": at(day),
    }  # fmt: skip
    values.update(fields)
    if "product_ids" in fields and "results" not in fields:
        values["results"] = len(fields["product_ids"])
    return SearchEvent.objects.create(**values)


def result_open(search: SearchEvent, rank: int) -> ResultOpen:
    return ResultOpen.objects.create(
        search=search, rank=rank, product_id=search.product_ids[rank - search.first_rank], created_at=search.created_at
    )
