"""Reads about the search index (status, throughput, errors). Vector queries: search/vector_store.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Count
from django.utils import timezone

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


def attribute_values(key: str, *, limit: int = 50) -> list[str]:
    """The most common values of a product attribute (for filter choices), cached for a while."""
    from django.core.cache import cache

    from catalog.models import Product
    from search.conf import search_setting

    cache_key = f"snapshelf:search:attribute-values:{key}"
    values = cache.get(cache_key)
    if values is None:
        from django.db.models import Count
        from django.db.models.fields.json import KT

        rows = (
            Product.objects.filter(is_active=True)
            .annotate(value=KT(f"attributes__{key}"))
            .exclude(value__isnull=True)
            .exclude(value="")
            .values("value")
            .annotate(n=Count("id"))
            .order_by("-n", "value")[:limit]
        )
        values = sorted(str(row["value"]).lower() for row in rows)
        cache.set(cache_key, values, search_setting("SEARCH_STATS_TTL_SECONDS"))
    return values


CATEGORY_CHOICES_CACHE_KEY = "snapshelf:search:category-choices:v1"


def category_choices() -> list[tuple[int, str]]:
    """The category filter's options, (id, full path), cached for SEARCH_STATS_TTL_SECONDS.

    Saving or deleting a Category forgets them (search/signals.py); the TTL bounds what a change
    that sends no signal (queryset.update, a raw import) leaves shown. Only the options are cached:
    the form still validates a chosen id against the database.
    """
    from django.core.cache import cache

    from catalog.selectors import category_paths
    from search.conf import search_setting

    choices = cache.get(CATEGORY_CHOICES_CACHE_KEY)
    if choices is None:
        choices = category_paths()
        cache.set(CATEGORY_CHOICES_CACHE_KEY, choices, search_setting("SEARCH_STATS_TTL_SECONDS"))
    return choices


def category_choices_forget() -> None:
    from django.core.cache import cache

    cache.delete(CATEGORY_CHOICES_CACHE_KEY)
