from __future__ import annotations

from decimal import Decimal

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models.functions import Cast, Lower, Upper
from django.urls import NoReverseMatch, reverse

from catalog.thumbnails import Thumbnail, image_thumbnail

CATEGORY_PATH_SEPARATOR = " > "
# For select_related(): a product's category with two ancestors, so Category.full_path needs no
# query per level for trees up to three deep (deeper levels are fetched on demand).
CATEGORY_PATH_RELATED = "category__parent__parent"


class Category(models.Model):
    """A node in the category tree (``Apparel > Topwear > Tshirts``)."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=255, unique=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")

    class Meta:
        verbose_name_plural = "categories"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["parent", "name"], name="category_unique_name_per_parent"),
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(parent__isnull=True), name="category_unique_root_name"
            ),
        ]

    def __str__(self) -> str:
        return self.full_path

    @property
    def full_path(self) -> str:
        names = [self.name]
        node = self
        # Trees are shallow (3-5 levels); each parent is one cached lookup.
        while node.parent_id is not None:
            node = node.parent  # type: ignore[assignment]
            names.append(node.name)
        return CATEGORY_PATH_SEPARATOR.join(reversed(names))


ACTIVE = models.Q(is_active=True)

currency_validator = RegexValidator(r"^[A-Z]{3}$", "Use a three-letter ISO 4217 code such as EUR.")


class Product(models.Model):
    sku = models.CharField("SKU", max_length=100, unique=True)
    title = models.CharField(max_length=500)
    description = models.TextField(blank=True)
    brand = models.CharField(max_length=200, blank=True)
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="products")
    price = models.DecimalField(
        max_digits=12, decimal_places=2, default=Decimal("0.00"), validators=[MinValueValidator(0)]
    )
    currency = models.CharField(max_length=3, default="EUR", validators=[currency_validator])
    stock = models.PositiveIntegerField(default=0)
    in_stock = models.BooleanField(default=True)
    attributes = models.JSONField(default=dict, blank=True, help_text='For example {"colour": "red"}.')
    url = models.URLField("store URL", max_length=1000, blank=True)
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["title", "id"]
        indexes = [
            models.Index(fields=["brand"]),
            models.Index(fields=["is_active", "in_stock"]),
            # Shoppers' filters (catalog.selectors.products_filtered). A selective filter reads
            # its product ids from one of these alone (an index-only scan: the ids are in the
            # index), then the exact scan computes distances over those products' vectors only
            # (search/vector_store.py). The two expression indexes are not partial: Postgres
            # keeps statistics of an index expression only for whole-table indexes, and the
            # search estimates a filter's rows from them.
            models.Index(fields=["price"], include=["id"], condition=ACTIVE, name="product_active_price"),
            models.Index(fields=["category"], include=["id"], condition=ACTIVE, name="product_active_category"),
            models.Index(fields=["in_stock"], include=["id"], condition=ACTIVE, name="product_active_stock"),
            models.Index(Upper("brand"), include=["brand", "is_active", "id"], name="product_brand_upper"),
            GinIndex(
                OpClass(Cast(Lower(Cast("attributes", models.TextField())), models.JSONField()), name="jsonb_path_ops"),
                name="product_attributes_folded",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.sku})"

    def get_absolute_url(self) -> str:
        try:
            return reverse("search:product-detail", kwargs={"pk": self.pk})
        except NoReverseMatch:  # the host project did not include the storefront urls
            return self.url


def product_image_upload_to(instance: ProductImage, filename: str) -> str:
    from catalog.conf import catalog_setting

    return f"{catalog_setting('IMAGE_UPLOAD_TO')}/{instance.sha256[:2]}/{filename}"


class ProductImage(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="images")
    file = models.FileField(upload_to=product_image_upload_to, max_length=500)
    position = models.PositiveIntegerField(default=0)
    alt_text = models.CharField(max_length=300, blank=True)
    width = models.PositiveIntegerField(default=0, editable=False)
    height = models.PositiveIntegerField(default=0, editable=False)
    sha256 = models.CharField("SHA-256", max_length=64, db_index=True, editable=False)
    source_url = models.URLField(max_length=2000, blank=True, editable=False)
    search_only = models.BooleanField(
        "search only",
        default=False,
        help_text="A photo taken as shoppers take them (in the shop, on a shelf): used to find the product "
        "by photo and for similar products, never shown on the storefront.",
    )
    # Made by the indexing worker (catalog/thumbnails.py): {"card": {"name", "width", "height"}, ...}
    # for the bytes whose SHA-256 is thumbnails_of; read them through card_thumbnail / detail_thumbnail.
    thumbnails = models.JSONField(default=dict, blank=True, editable=False)
    thumbnails_of = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["product_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["product", "sha256"], name="product_image_unique_bytes"),
        ]

    def __str__(self) -> str:
        return f"{self.product.sku} image {self.position}"

    @property
    def card_thumbnail(self) -> Thumbnail:
        return image_thumbnail(self, "card")

    @property
    def detail_thumbnail(self) -> Thumbnail:
        return image_thumbnail(self, "detail")
