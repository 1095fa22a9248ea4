"""Deletes a product image's file and thumbnails once the deletion of its row commits, however it
was deleted (the API, the admin, a product's cascade, a webhook); a new categories version once a
category's save or delete commits."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from catalog.models import Category, ProductImage
from catalog.selectors import categories_version_bump

logger = logging.getLogger(__name__)


@receiver(post_delete, sender=ProductImage, dispatch_uid="catalog.product_image_deleted")
def product_image_files_delete(sender: type[ProductImage], instance: ProductImage, **kwargs: Any) -> None:
    """After commit: a rolled-back deletion keeps its files."""
    storage, name, sha256 = instance.file.storage, instance.file.name, instance.sha256
    thumbnails = [str(stored["name"]) for stored in (instance.thumbnails or {}).values() if stored.get("name")]

    def delete() -> None:
        names = [name] if name and not ProductImage.objects.filter(file=name).exists() else []
        # Thumbnails are named by the image's SHA-256 and shared by every image with those bytes.
        if not ProductImage.objects.filter(sha256=sha256).exists():
            names += thumbnails
        for stored in names:
            try:
                storage.delete(stored)
            except OSError as exc:
                logger.warning("could not delete %s of image %s: %s", stored, instance.pk, exc)

    transaction.on_commit(delete)


@receiver([post_save, post_delete], sender=Category, dispatch_uid="catalog.category_changed")
def category_changed(sender: type[Category], **kwargs: Any) -> None:
    """After commit, so that no request caches the old tree under the new version."""
    transaction.on_commit(categories_version_bump)
