"""Tuning the model to the shop: an adapter learned from the shop's own photos, built as a candidate.

``model_tune()`` reads the base model's stored image vectors of every product with two or more
photos (catalog photos and search-only shop photos; clicked photo-search results when a listener
of ``tuning_photos_collect`` adds them, e.g. the insights app when the merchant opts in), learns a
low-rank adapter (search.tuning), keeps its weights in the database (``ModelAdapter``) and starts
building the tuned model, ``<base>+tuned-<n>``, through the model switch as a *gated* candidate:
its vectors come from the base model's without a forward pass (index_queue._derive_from_base),
and once built it replaces the active model only when its gate (the insights app's self-test
comparison) says it is better; otherwise it waits for the merchant.

A share of the shop photos is held out of training (``shop_photos_held_out``), so that the gate
can judge the tuned model on real shop photos it never saw (``tuned_model_held_out``) rather
than on synthetic copies of catalog photos, which can disagree with real ones
(docs/adr/0012-tuned-models-and-the-gate.md).
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections import defaultdict

import numpy as np
from django.db.models import Count, QuerySet
from django.dispatch import Signal

from catalog.models import ProductImage
from search.conf import search_setting
from search.embedders.adapter import AdaptedEmbedder, LowRankAdapter
from search.embedders.base import EmbedderLoadError
from search.models import TUNED_SEPARATOR, EmbeddingModel, EmbeddingStatus, ImageEmbedding, ModelAdapter
from search.services.model_switch import embedding_model_activate, embedding_model_active
from search.tuning import TrainingPhotos, TuneError, TuneOptions, adapter_train
from search.vector_store import image_vectors_of_products

logger = logging.getLogger(__name__)

# Sent with ``model=EmbeddingModel`` (the base); listeners may return more TrainingPhotos (vectors
# of that model): the insights app returns clicked photo-search results when the merchant opts in.
tuning_photos_collect = Signal()

# Fewer products with a pair than this: nothing worth learning (adapter_train needs 2 at least).
MIN_PRODUCTS = 2

__all__ = [
    "TuneError",
    "TuneOptions",
    "model_tune",
    "shop_photos_held_out",
    "training_photos",
    "tuned_embedder_build",
    "tuned_model_held_out",
    "tuning_blocked",
]


def model_tune(*, base: EmbeddingModel | None = None, options: TuneOptions | None = None) -> ModelAdapter:
    """Learn an adapter over ``base`` (default: the active model) and start building the tuned
    model as a gated candidate; returns the adapter (``adapter.model_name`` names the model)."""
    base = base or embedding_model_active()
    if base is None:
        raise TuneError("There is no active model to tune: import products and let the index build first.")
    if base.status == EmbeddingModel.Status.RETIRED:
        raise TuneError(f"{base.name} is retired; tune the active model.")
    options = options or TuneOptions()
    held_out = shop_photos_held_out(base, seed=options.seed)
    photos, clicked = training_photos(base, held_out=held_out)
    adapter, report = adapter_train(photos, options)
    row = ModelAdapter.objects.create(
        base=base,
        base_name=base.name,
        weights=adapter.to_bytes(),
        digest=adapter.digest(),
        dim=adapter.dim,
        rank=adapter.rank,
        training={
            **dataclasses.asdict(report),
            "clicked_photos": clicked,
            "options": dataclasses.asdict(options),
            # The shop photos kept out of training, for the gate to ask (image ids).
            "held_out_images": held_out,
            "held_out_share": float(search_setting("SEARCH_TUNE_HOLD_OUT_SHARE")),
        },
    )
    summary = {key: value for key, value in row.training.items() if key != "held_out_images"}
    logger.info("tuned %s (%d shop photos held out): %s", row.model_name, len(held_out), summary)
    embedding_model_activate(row.model_name, gated=True)
    return row


def tuning_blocked(base: EmbeddingModel) -> str:
    """Why ``base`` cannot be tuned from its stored photos ("" when it can): a quick count for
    the admin before it queues the work (clicked photos are not counted here)."""
    products = _paired_products(base).count()
    if products >= MIN_PRODUCTS:
        return ""
    return (
        f"Tuning needs at least {MIN_PRODUCTS} products with two or more indexed photos; {products} have them. "
        "Add shop photos (search-only images: photos of a product taken as shoppers take them) and let them index."
    )


def _paired_products(base: EmbeddingModel) -> QuerySet[ImageEmbedding, int]:
    return (
        ImageEmbedding.objects.filter(model=base, status=EmbeddingStatus.READY, product__is_active=True)
        .values("product_id")
        .annotate(photos=Count("id"))
        .filter(photos__gte=2)
        .values_list("product_id", flat=True)
    )


def shop_photos_held_out(base: EmbeddingModel, *, seed: int) -> list[int]:
    """The search-only shop photos to keep out of training (image ids): of each active product's
    shop photos indexed by ``base``, SEARCH_TUNE_HOLD_OUT_SHARE drawn with ``seed`` and the
    product (rounded at random, so a product with two photos loses one 40% of the time at 0.2,
    and the total stays near the share). None when that makes fewer than SEARCH_TUNE_HOLD_OUT_MIN:
    too few to judge by, and the shop's few photos are better spent on training.

    The draw follows the catalog, not database ids (each product's by its SKU, among its photos in
    the order of their bytes' hashes), so the same catalog holds out the same photos, and trains
    the same adapter, in any database: drawn by product id, the quality regression test's tuned
    grocery R@5 was 0.88 in a fresh test database and 0.80 after the rest of the suite had used
    up ids (docs/quality.md)."""
    share = float(search_setting("SEARCH_TUNE_HOLD_OUT_SHARE"))
    shop = ImageEmbedding.objects.filter(
        model=base, status=EmbeddingStatus.READY, product__is_active=True, image__search_only=True
    ).values_list("product__sku", "image__sha256", "image_id")
    per_product: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for sku, sha256, image_id in shop:
        per_product[sku].append((sha256, image_id))
    held_out: list[int] = []
    for sku, images in sorted(per_product.items()):
        draw = random.Random(f"hold-out:{seed}:{sku}")  # a str seed is hashed with SHA-512: stable
        drawn = draw.sample(sorted(images), min(len(images), int(share * len(images) + draw.random())))
        held_out += [image_id for _, image_id in drawn]
    return sorted(held_out) if len(held_out) >= int(search_setting("SEARCH_TUNE_HOLD_OUT_MIN")) else []


def tuned_model_held_out(model: EmbeddingModel) -> list[int]:
    """The shop photos ``model``'s adapter was not trained on that are still search-only photos
    of active products (image ids); [] for a model that is not tuned, or when fewer than
    SEARCH_TUNE_HOLD_OUT_MIN are left (the merchant deleted some since)."""
    row = _adapter_of(model.name)
    wanted = row.training.get("held_out_images", []) if row is not None else []
    left = ProductImage.objects.filter(pk__in=wanted, search_only=True, product__is_active=True)
    ids = sorted(left.values_list("pk", flat=True))
    return ids if ids and len(ids) >= int(search_setting("SEARCH_TUNE_HOLD_OUT_MIN")) else []


def training_photos(base: EmbeddingModel, *, held_out: list[int] | None = None) -> tuple[TrainingPhotos, int]:
    """The base model's vectors of every active product with two or more indexed photos (but
    the ``held_out`` images), plus what listeners add (clicked query photos); and how many of
    them were clicked photos."""
    extras: list[TrainingPhotos] = []
    for _, extra in tuning_photos_collect.send(sender=EmbeddingModel, model=base):
        if isinstance(extra, TrainingPhotos) and len(extra.vectors):
            extras.append(extra)
    # Products with two stored photos, and those with one and photos from the listeners.
    products = set(_paired_products(base)) | {int(p) for extra in extras for p in extra.products}
    stored = image_vectors_of_products(base, sorted(products))
    kept = ~np.isin(np.array(stored.image_ids, dtype=np.int64), np.array(held_out or [], dtype=np.int64))
    parts: list[TrainingPhotos] = [
        TrainingPhotos(
            stored.vectors[kept],
            np.array(stored.product_ids, dtype=np.int64)[kept],
            np.array(stored.search_only, dtype=bool)[kept],
        ),
        *extras,
    ]
    clicked = int(sum(len(part.vectors) for part in extras))
    return (
        TrainingPhotos(
            vectors=np.concatenate([part.vectors for part in parts]).astype(np.float32),
            products=np.concatenate([part.products for part in parts]).astype(np.int64),
            shop=np.concatenate([part.shop for part in parts]).astype(bool),
        ),
        clicked,
    )


def tuned_embedder_build(name: str) -> AdaptedEmbedder:
    """The embedder of a tuned model: its base model's, through the adapter kept in the database
    (called by search.embedders.registry for names with TUNED_SEPARATOR)."""
    from search.embedders.registry import embedder_get

    base_name = name.rpartition(TUNED_SEPARATOR)[0]
    row = _adapter_of(name)
    if row is None:
        raise EmbedderLoadError(
            f"No tuned model {name!r}: its adapter is not in the database. Tune again "
            "(manage.py search_model tune) or activate a configured model."
        )
    try:
        adapter = LowRankAdapter.from_bytes(bytes(row.weights))
    except (ValueError, OSError, KeyError) as exc:
        raise EmbedderLoadError(f"The adapter of {name!r} cannot be read ({exc}); tune again.") from exc
    return AdaptedEmbedder(base=embedder_get(base_name), adapter=adapter)


def _adapter_of(name: str) -> ModelAdapter | None:
    """The adapter row a tuned model's name points to (None: not a tuned model's name, or gone)."""
    base_name, _, key = name.rpartition(TUNED_SEPARATOR)
    row = ModelAdapter.objects.filter(pk=int(key)).first() if base_name and key.isdigit() else None
    return row if row is not None and row.base_name == base_name else None
