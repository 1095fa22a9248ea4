"""Reads about the search index (status, throughput, errors), the storefront's colour options,
and the cache of whole-catalog figures (stats_cached).
Vector queries: search/vector_store.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar, cast

from django.core.cache import cache
from django.db.models import Count
from django.db.models.fields.json import KT
from django.utils import timezone

from catalog.models import Product
from search.conf import search_setting
from search.models import EmbeddingModel, EmbeddingStatus, ImageEmbedding, ProductEmbedding

T = TypeVar("T")
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
    # Why the building model, though built, is not active ("": nothing stops it).
    building_blocked: str = ""

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
    building = next((m for m in models if m.status == EmbeddingModel.Status.BUILDING), None)
    return IndexStatus(
        active=next((m for m in models if m.status == EmbeddingModel.Status.ACTIVE), None),
        building=building,
        building_blocked=embedding_model_activation_blocked(building) if building else "",
        models=list(per_model.values()),
        pending=sum(per_model[m.pk].total(EmbeddingStatus.PENDING) for m in wanted),
        ready_last_10_minutes=sum(
            row_class.objects.filter(model__in=wanted, status=EmbeddingStatus.READY, updated_at__gte=since).count()
            for row_class in KIND_ROWS.values()
        ),
        recent_errors=errors[:error_limit],
    )


def embedding_model_activation_blocked(model: EmbeddingModel) -> str:
    """Why a built model is not made active ("" when nothing stops it): a model whose images or
    texts mostly failed would replace a working index with a broken one. The first model of an
    install is activated anyway: some search beats none."""
    if model.status != EmbeddingModel.Status.BUILDING:
        return ""
    if not EmbeddingModel.objects.filter(status=EmbeddingModel.Status.ACTIVE).exists():
        return ""
    wanted = search_setting("INDEX_ACTIVATE_MIN_READY")
    for kind, row_class in KIND_ROWS.items():
        done = row_class.objects.filter(model=model, status__in=[EmbeddingStatus.READY, EmbeddingStatus.FAILED])
        total = done.count()
        ready = done.filter(status=EmbeddingStatus.READY).count()
        if total and ready / total < wanted:
            return (
                f"{model.name} is built but not activated: {ready} of {total} {kind} vectors are ready "
                f"({ready / total:.1%}, SNAPSHELF_INDEX_ACTIVATE_MIN_READY asks for {wanted:.0%}). "
                "The active model keeps serving; see the recent errors, then `manage.py search_index "
                "rebuild --failed`, or activate another model."
            )
    return ""


def attribute_values(attribute: str, *, limit: int = 50) -> list[str]:
    """The storefront filter's options for an attribute (colour): its most common values among
    active products, lower case, sorted. A count over every product, so kept by stats_cached."""
    return stats_cached(f"attribute-values:{attribute}:{limit}", lambda: _attribute_values_read(attribute, limit))


def stats_cached(name: str, compute: Callable[[], T]) -> T:
    """``compute()``, kept in Django's cache for SNAPSHELF_SEARCH_STATS_TTL_SECONDS under ``name``.

    The one staleness rule of the request path's caches: only figures computed over the whole
    catalog (the colour choices) are cached, and a change to
    the catalog shows in them within that time. Everything a shopper acts on (products, prices,
    a chosen category, the active model, API keys) is read from the database on every request;
    the rendered category select is cached under the categories' version
    (catalog.selectors.categories_version), which changes with them."""
    return cast(
        T, cache.get_or_set(f"snapshelf:search:stats:{name}", compute, search_setting("SEARCH_STATS_TTL_SECONDS"))
    )


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
