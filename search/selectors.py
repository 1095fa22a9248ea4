"""Reads about the search index (status, throughput, errors) and the storefront's filter options.
Vector queries: search/vector_store.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import NamedTuple

from django.core.cache import cache
from django.db.models import Count
from django.db.models.fields.json import KT
from django.utils import timezone

from catalog.memo import ExpiringMemo
from catalog.models import Product
from catalog.selectors import category_paths
from search.conf import search_setting
from search.models import EmbeddingModel, EmbeddingStatus, ImageEmbedding, ProductEmbedding

KIND_ROWS: dict[str, type[ImageEmbedding] | type[ProductEmbedding]] = {
    "image": ImageEmbedding,
    "product": ProductEmbedding,
}


@dataclass
class ModelCounts:
    model: EmbeddingModel
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> status -> n

    def total(self, status: str) -> int:
        return sum(by_status.get(status, 0) for by_status in self.counts.values())


@dataclass
class IndexStatus:
    active: EmbeddingModel | None
    building: EmbeddingModel | None
    models: list[ModelCounts]
    pending: int
    ready_last_10_minutes: int
    recent_errors: list[ImageEmbedding | ProductEmbedding]

    @property
    def per_minute(self) -> float:
        return self.ready_last_10_minutes / 10


def index_status(*, error_limit: int = 10) -> IndexStatus:
    models = list(EmbeddingModel.objects.order_by("status", "-created_at"))
    per_model = {model.pk: ModelCounts(model) for model in models}
    for kind, row_class in KIND_ROWS.items():
        for row in row_class.objects.values("model_id", "status").annotate(n=Count("id")):
            if row["model_id"] in per_model:
                per_model[row["model_id"]].counts.setdefault(kind, {})[row["status"]] = row["n"]
    wanted = [m for m in models if m.is_wanted]
    since = timezone.now() - timedelta(minutes=10)
    errors: list[ImageEmbedding | ProductEmbedding] = []
    for row_class in KIND_ROWS.values():
        errors += list(
            row_class.objects.filter(status=EmbeddingStatus.FAILED, model__in=wanted).order_by("-updated_at")[
                :error_limit
            ]
        )
    errors.sort(key=lambda row: row.updated_at, reverse=True)
    return IndexStatus(
        active=next((m for m in models if m.status == EmbeddingModel.Status.ACTIVE), None),
        building=next((m for m in models if m.status == EmbeddingModel.Status.BUILDING), None),
        models=list(per_model.values()),
        pending=sum(per_model[m.pk].total(EmbeddingStatus.PENDING) for m in wanted),
        ready_last_10_minutes=sum(
            row_class.objects.filter(model__in=wanted, status=EmbeddingStatus.READY, updated_at__gte=since).count()
            for row_class in KIND_ROWS.values()
        ),
        recent_errors=errors[:error_limit],
    )


class FilterChoices(NamedTuple):
    attribute_values: list[str]  # the most common values, lower case, sorted
    categories: list[tuple[int, str]]  # (id, full path), by parent and then name


def filter_choices(attribute: str, *, limit: int = 50) -> FilterChoices:
    """The storefront filters' options: an attribute's most common values (cached for
    SEARCH_STATS_TTL_SECONDS, and kept in this process for up to ATTRIBUTE_VALUES_LOCAL_SECONDS
    more) and the categories (catalog.selectors.category_paths: the in-process category tree,
    which the form also checks a chosen category against)."""
    return FilterChoices(_attribute_values(attribute, limit), category_paths())


# Every storefront form needs the colours, and reading them from the shared cache cost ~0.1 ms of
# each search page; they are counts that may already be SEARCH_STATS_TTL_SECONDS old.
ATTRIBUTE_VALUES_LOCAL_SECONDS = 5.0
_attribute_values_kept: ExpiringMemo[tuple[str, int], list[str]] = ExpiringMemo(max_entries=1_000)


def _attribute_values(attribute: str, limit: int) -> list[str]:
    kept = _attribute_values_kept.get((attribute, limit))
    if kept is not None:
        return kept
    ttl = search_setting("SEARCH_STATS_TTL_SECONDS")
    cache_key = f"snapshelf:search:attribute-values:{attribute}"
    values = cache.get(cache_key)
    if values is None:
        values = _attribute_values_read(attribute, limit)
        cache.set(cache_key, values, ttl)
    _attribute_values_kept.set((attribute, limit), values, min(ttl, ATTRIBUTE_VALUES_LOCAL_SECONDS))
    return values


def attribute_values_forget() -> None:
    """Forget the colours this process keeps (tests that change them in the shared cache)."""
    _attribute_values_kept.clear()


def _attribute_values_read(key: str, limit: int) -> list[str]:
    rows = (
        Product.objects.filter(is_active=True)
        .annotate(value=KT(f"attributes__{key}"))
        .exclude(value__isnull=True)
        .exclude(value="")
        .values("value")
        .annotate(n=Count("id"))
        .order_by("-n", "value")[:limit]
    )
    return sorted(str(row["value"]).lower() for row in rows)
