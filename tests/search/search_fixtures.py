"""Building a real search index in tests: the demo catalog embedded by the offline preset."""

from __future__ import annotations

import io

from django.core.cache import cache
from PIL import Image

from catalog.demo import demo_catalog_seed, demo_products
from catalog.models import Category, Product
from search.embedders.registry import embedder_clear_cache
from search.models import EmbeddingModel
from search.services.index_queue import embeddings_process_available
from search.services.keywords import vocabulary_rebuild
from search.services.model_switch import embedding_model_activate


def demo_index_build(model_name: str = "offline") -> EmbeddingModel:
    """Seed the demo catalog and index it with ``model_name`` (it becomes active)."""
    cache.clear()  # score distributions of earlier catalogs
    demo_catalog_seed()
    vocabulary_rebuild()
    embedding_model_activate(model_name)
    embeddings_process_available(time_budget=600)
    model = EmbeddingModel.objects.get(status="active")
    assert model.name == model_name
    return model


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
