"""API keys, queued image URL fetches, webhook deliveries and links to platform product ids."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.core.validators import RegexValidator
from django.db import models

from catalog.models import Product

throttle_rate_validator = RegexValidator(
    r"^\d+/(s|sec|second|m|min|minute|h|hour|d|day)$", "Use a rate such as 600/min."
)
origin_validator = RegexValidator(
    r"^https?://[^/\s,]+/?$", "Use an origin: scheme and host (and port), e.g. https://shop.example.com."
)


class ApiKey(models.Model):
    """A key for the REST API. Only the SHA-256 of the key is stored; the key is shown once.

    Kinds nest: ``public`` keys may search (they are meant to sit in a store's pages), ``read``
    keys also read the catalog, ``write`` keys also change it (both for servers only).
    """

    class Kind(models.TextChoices):
        PUBLIC = "public", "Public: search only, safe in a browser"
        READ = "read", "Read: search and read the catalog (servers only)"
        WRITE = "write", "Read/write: everything (servers only)"

    name = models.CharField(max_length=200, help_text="Who uses it, e.g. 'Shop front' or 'ERP sync'.")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PUBLIC)
    prefix = models.CharField(max_length=16, editable=False, help_text="The key's first characters, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    allowed_origins = ArrayField(
        models.CharField(max_length=200, validators=[origin_validator]),
        default=list,
        blank=True,
        help_text="Public keys: browser origins allowed to use the key, comma separated "
        "(e.g. https://shop.example.com). Empty: any origin in the project's CORS settings.",
    )
    throttle_rate = models.CharField(
        max_length=20,
        blank=True,
        validators=[throttle_rate_validator],
        help_text="Overrides the kind's default rate, e.g. 600/min. Empty: the default.",
    )
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…, {self.kind})"


class ImageFetch(models.Model):
    """An image URL to add to a product, fetched by a worker. The row is the record of the work."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        FETCHING = "fetching", "Fetching"  # claimed by a worker (updated_at: when)
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="image_fetches")
    url = models.URLField(max_length=2000)
    alt_text = models.CharField(max_length=300, blank=True)
    position = models.PositiveIntegerField(null=True, blank=True)
    # None: a new image is shown, an existing one keeps its setting (ProductImage.search_only).
    search_only = models.BooleanField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    image = models.ForeignKey("catalog.ProductImage", null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "updated_at"])]

    def __str__(self) -> str:
        return f"{self.url} -> {self.product_id} ({self.status})"


class Platform(models.TextChoices):
    SHOPIFY = "shopify", "Shopify"
    WOOCOMMERCE = "woocommerce", "WooCommerce"


class WebhookDelivery(models.Model):
    """A delivery already handled: the platforms retry, and the same delivery id is skipped."""

    platform = models.CharField(max_length=20, choices=Platform.choices)
    delivery_id = models.CharField(max_length=200)
    topic = models.CharField(max_length=100)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["platform", "delivery_id"], name="webhook_delivery_unique")]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.platform} {self.topic} {self.delivery_id}"


class ExternalProduct(models.Model):
    """Which catalog product a platform's product id became (delete payloads carry only the id).

    A deleted product leaves its link as a tombstone (``product`` empty, ``remote_updated_at`` the
    time of the delete), so that an update delivered late cannot bring the product back.
    """

    platform = models.CharField(max_length=20, choices=Platform.choices)
    external_id = models.CharField(max_length=100)
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="external_links"
    )
    # The platform's own modification time of the last applied payload (or of the delete):
    # older deliveries are stale.
    remote_updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["platform", "external_id"], name="external_product_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.platform} {self.external_id} -> {self.product_id}"
