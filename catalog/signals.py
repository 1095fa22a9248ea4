"""Keeps the in-process category tree (catalog.selectors.categories_by_id) current."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from catalog.models import Category
from catalog.selectors import category_tree_changed


@receiver(post_save, sender=Category, dispatch_uid="catalog.category_saved")
@receiver(post_delete, sender=Category, dispatch_uid="catalog.category_deleted")
def category_changed(sender: type[Category], instance: Category, **kwargs: Any) -> None:
    category_tree_changed()
