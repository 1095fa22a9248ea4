"""Building a real search index in tests: the demo catalog embedded by the offline preset."""

from __future__ import annotations

import io

import numpy as np
from django.core.cache import cache
from django.test import override_settings
from PIL import Image

from catalog.demo import demo_catalog_seed, demo_products
from catalog.models import Category, Product
from search.embedders.registry import embedder_clear_cache
from search.models import EmbeddingModel
from search.services.index_queue import embeddings_process_available
from search.services.keywords import vocabulary_rebuild
from search.services.model_switch import embedding_model_activate
from search.services.no_match import no_match_calibrate

DEMO_CALIBRATION_SAMPLE = 32


def demo_index_build(model_name: str = "offline", *, calibrate: bool = True) -> EmbeddingModel:
    """Seed the demo catalog, index it with ``model_name`` (it becomes active) and calibrate its
    "no close match" threshold, as a worker does once the index is built."""
    cache.clear()  # colour choices of earlier catalogs
    demo_catalog_seed()
    vocabulary_rebuild()
    embedding_model_activate(model_name)
    embeddings_process_available(time_budget=600)
    model = EmbeddingModel.objects.get(status="active")
    assert model.name == model_name
    if calibrate:
        demo_calibrate(model)
    return model


def demo_calibrate(model: EmbeddingModel) -> None:
    # Half the photos (a copy costs ~0.3 s here on a busy machine); the real sample is larger.
    with override_settings(SNAPSHELF_SEARCH_NO_MATCH_SAMPLE=DEMO_CALIBRATION_SAMPLE):
        no_match_calibrate(model)


def catalog_delete() -> None:
    """Undo a committed build (module-scoped fixtures run outside the per-test transaction)."""
    Product.objects.all().delete()
    categories = list(Category.objects.all())
    # Leaves first: a category PROTECTs its children.
    for category in sorted(categories, key=lambda c: -c.full_path.count(">")):
        category.delete()
    EmbeddingModel.objects.all().delete()
    cache.clear()
    vocabulary_rebuild()
    embedder_clear_cache()


def demo_photo_bytes(sku: str) -> bytes:
    """The demo product's catalog photo, drawn again (the same bytes as the stored file)."""
    return next(item.image_png for item in demo_products() if item.sku == sku)


def demo_photo(sku: str) -> Image.Image:
    return Image.open(io.BytesIO(demo_photo_bytes(sku))).convert("RGB")


def noise(seed: int, size: int = 240) -> Image.Image:
    """A photo of nothing: random pixels (no catalog looks like it)."""
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8))


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()
