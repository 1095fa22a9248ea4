"""The dashboard's figures, each one aggregate query over a date range (ORM, Postgres)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db.models import BigIntegerField, Count, F, Func, Q, QuerySet
from django.db.models.functions import Lower, TruncDate
from django.utils import timezone

from catalog.models import Product
from insights.aggregates import Percentile
from insights.models import ResultOpen, SearchEvent

FAILED = Q(results=0) | Q(close_match=False)
PHOTO_KINDS = (SearchEvent.Kind.PHOTO, SearchEvent.Kind.PHOTO_WORDS)


@dataclass(frozen=True)
class DateRange:
    start: dt.date
    end: dt.date  # included

    @classmethod
    def last_days(cls, days: int, *, today: dt.date | None = None) -> DateRange:
        today = today or timezone.localdate()
        return cls(today - dt.timedelta(days=days - 1), today)

    def days(self) -> Iterator[dt.date]:
        day = self.start
        while day <= self.end:
            yield day
            day += dt.timedelta(days=1)

    def q(self, prefix: str = "") -> Q:
        start = timezone.make_aware(dt.datetime.combine(self.start, dt.time.min))
        end = timezone.make_aware(dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min))
        return Q(**{f"{prefix}created_at__gte": start, f"{prefix}created_at__lt": end})


@dataclass
class DayFigures:
    day: dt.date
    searches: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    no_results: int = 0
    no_close_match: int = 0
    photo_searches: int = 0
    visitors: int = 0
    latency_p50: float | None = None
    latency_p95: float | None = None
    opens: int = 0

    @property
    def no_results_share(self) -> float | None:
        return self.no_results / self.searches if self.searches else None

    @property
    def no_close_match_share(self) -> float | None:
        return self.no_close_match / self.photo_searches if self.photo_searches else None


def searches_in(days: DateRange) -> QuerySet[SearchEvent]:
    return SearchEvent.objects.filter(days.q())


def days_figures(days: DateRange) -> list[DayFigures]:
    """Per day: searches by kind, no results, no close match, distinct visitors, latency p50/p95, opens."""
    figures = {day: DayFigures(day) for day in days.days()}
    per_day = searches_in(days).annotate(day=TruncDate("created_at")).values("day")
    for kind_row in per_day.annotate(n=Count("id"), kind_of=F("kind")).values("day", "kind_of", "n").order_by():
        figures[kind_row["day"]].by_kind[kind_row["kind_of"]] = kind_row["n"]
    for row in per_day.annotate(
        searches=Count("id"),
        no_results=Count("id", filter=Q(results=0)),
        no_close_match=Count("id", filter=Q(close_match=False)),
        photo_searches=Count("id", filter=Q(kind__in=PHOTO_KINDS)),
        visitors=Count("visitor", distinct=True, filter=~Q(visitor="")),
        latency_p50=Percentile("latency_ms", 0.5),
        latency_p95=Percentile("latency_ms", 0.95),
    ).order_by():
        day = figures[row["day"]]
        for name, value in row.items():
            if name != "day":
                setattr(day, name, value)
    opens = ResultOpen.objects.filter(days.q()).annotate(day=TruncDate("created_at")).values("day")
    for open_row in opens.annotate(n=Count("id")).order_by():
        if open_row["day"] in figures:
            figures[open_row["day"]].opens = open_row["n"]
    return list(figures.values())


@dataclass(frozen=True)
class QueryCount:
    text: str
    searches: int
    failed: int


def top_queries(days: DateRange, *, failed_only: bool = False, limit: int = 15) -> list[QueryCount]:
    """The most searched words (case folded), or the most searched that failed (no results, or no
    close match for a photo)."""
    events = searches_in(days).exclude(text="")
    if failed_only:
        events = events.filter(FAILED)
    rows = (
        events.annotate(words=Lower("text"))
        .values("words")
        .annotate(n=Count("id"), failures=Count("id", filter=FAILED))
        .order_by("-n", "words")[:limit]
    )
    return [QueryCount(row["words"], row["n"], row["failures"]) for row in rows]


@dataclass(frozen=True)
class OpenFigures:
    searches_with_results: int
    searches_opened: int
    opens: int
    median_rank: float | None

    @property
    def click_through(self) -> float | None:
        return self.searches_opened / self.searches_with_results if self.searches_with_results else None


def open_figures(days: DateRange) -> OpenFigures:
    """Click-through (searches with results of which a result was opened) and the median rank opened."""
    searches = (
        searches_in(days)
        .filter(results__gt=0)
        .aggregate(n=Count("id"), opened=Count("id", filter=Q(opens__isnull=False), distinct=True))
    )
    opens = ResultOpen.objects.filter(days.q("search__")).aggregate(n=Count("id"), median=Percentile("rank", 0.5))
    return OpenFigures(searches["n"], searches["opened"], opens["n"], opens["median"])


def products_never_shown(days: DateRange) -> QuerySet[Product]:
    """Active products that no search (nor similar-products list) showed in the range."""
    shown = (
        searches_in(days)
        .annotate(product=Func(F("product_ids"), function="unnest", output_field=BigIntegerField()))
        .values("product")
    )
    return Product.objects.filter(is_active=True).exclude(pk__in=shown).order_by("title", "pk")
