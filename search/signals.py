"""Catalog changes mark index rows pending; the broker is told after the transaction commits."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from catalog.models import CATEGORY_PATH_RELATED, Category, Product, ProductImage
from catalog.selectors import category_subtree_ids
from search.services.index_queue import image_embeddings_mark_pending, product_embeddings_mark_pending
from search.services.keywords import product_keywords_refresh
from search.tasks import embeddings_process_enqueue


@receiver(post_save, sender=ProductImage, dispatch_uid="search_image_saved")
def image_saved(sender: type, instance: ProductImage, **kwargs: Any) -> None:
    if image_embeddings_mark_pending([instance]):
        transaction.on_commit(embeddings_process_enqueue)


@receiver(post_save, sender=Product, dispatch_uid="search_product_saved")
def product_saved(sender: type, instance: Product, **kwargs: Any) -> None:
    product_keywords_refresh([instance])
    if product_embeddings_mark_pending([instance]):
        transaction.on_commit(embeddings_process_enqueue)


@receiver(post_save, sender=Category, dispatch_uid="search_category_saved")
def category_saved(sender: type, instance: Category, created: bool, **kwargs: Any) -> None:
    # A renamed category changes the text of every product under it.
    if created:
        return
    # Read once: both the keyword documents and the text vectors need these products.
    products = list(
        Product.objects.filter(category_id__in=category_subtree_ids(instance)).select_related(CATEGORY_PATH_RELATED)
    )
    product_keywords_refresh(products)
    if product_embeddings_mark_pending(products):
        transaction.on_commit(embeddings_process_enqueue)
