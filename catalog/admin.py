from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

from catalog.forms import ProductImageForm
from catalog.models import Category, Product, ProductImage


def image_thumbnail_html(image: ProductImage | None, side: int = 64) -> str:
    """The image's stored card thumbnail (catalog/thumbnails.py), shown at most ``side`` pixels
    wide and high; a page of the admin never makes one."""
    if image is None or not image.file:
        return "—"
    thumb = image.card_thumbnail
    scale = min(1.0, side / thumb.width, side / thumb.height)
    return format_html(
        '<img src="{}" width="{}" height="{}" alt="{}" loading="lazy">',
        thumb.url, max(1, round(thumb.width * scale)), max(1, round(thumb.height * scale)),
        image.alt_text or image.product.title,
    )  # fmt: skip


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["__str__", "slug"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["parent"]
    list_select_related = ["parent__parent__parent"]


class ProductImageInline(admin.TabularInline):
    model = ProductImage
    form = ProductImageForm
    extra = 1
    fields = ["preview", "file", "position", "alt_text", "search_only", "width", "height"]
    readonly_fields = ["preview", "width", "height"]
    ordering = ["position", "id"]

    @admin.display(description="Preview")
    def preview(self, obj: ProductImage) -> str:
        return image_thumbnail_html(obj if obj.pk else None, 96)


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = [
        "thumbnail",
        "sku",
        "title",
        "price",
        "currency",
        "stock",
        "in_stock",
        "category",
        "is_active",
    ]
    list_display_links = ["sku", "title"]
    list_filter = ["is_active", "in_stock", ("category", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["sku", "title"]
    list_select_related = ["category__parent__parent"]
    autocomplete_fields = ["category"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [ProductImageInline]
    list_per_page = 50

    def get_queryset(self, request):  # type: ignore[no-untyped-def]
        return super().get_queryset(request).prefetch_related("images")

    @admin.display(description="Image")
    def thumbnail(self, obj: Product) -> str:
        # The first image shoppers see (a search-only photo only when there is nothing else).
        images = sorted(obj.images.all(), key=lambda image: image.search_only)
        return image_thumbnail_html(images[0] if images else None)
