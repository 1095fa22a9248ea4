"""What shoppers searched, which results they opened, self-test runs and daily drift figures.

Nothing here identifies a shopper: no photo, no address, no user or session id. ``visitor`` is a
hash whose salt changes every day and lives only in the cache (insights/services/recording.py).
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

from search.models import EmbeddingModel


class SearchEvent(models.Model):
    class Channel(models.TextChoices):
        STOREFRONT = "storefront", "Storefront"
        API = "api", "API"
        WIDGET = "widget", "Widget"

    class Kind(models.TextChoices):
        WORDS = "words", "Words"
        PHOTO = "photo", "Photo"
        PHOTO_WORDS = "photo_words", "Photo and words"
        SIMILAR = "similar", "Similar products"
        CATEGORY = "category", "Category"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    channel = models.CharField(max_length=12, choices=Channel.choices)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    text = models.CharField(max_length=500, blank=True)
    filters = models.JSONField(default=dict, blank=True)
    model = models.ForeignKey(EmbeddingModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    model_name = models.CharField(max_length=100, blank=True)
    results = models.PositiveIntegerField(help_text="Products shown on this page.")
    has_more = models.BooleanField(default=False)
    # The products shown, in rank order (an opened result is checked against it; "never shown").
    product_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    first_rank = models.PositiveIntegerField(default=1)
    page = models.PositiveIntegerField(default=1)
    best_distance = models.FloatField(null=True, blank=True, help_text="The photo's nearest image.")
    close_match = models.BooleanField(default=True)
    # A product id, not a key: the record outlives a deleted product.
    similar_to = models.BigIntegerField(null=True, blank=True)
    latency_ms = models.FloatField()
    visitor = models.CharField(max_length=16, blank=True, help_text="Today's salted hash; blank when not counted.")
    # The photo query's token, kept only with INSIGHTS_TUNE_FROM_CLICKS (to keep the vector of a
    # photo whose result is opened, while the search app still keeps it: an hour by default).
    photo_token = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "search"
        verbose_name_plural = "search dashboard"

    def __str__(self) -> str:
        return f"{self.kind} search via {self.channel} at {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def failed(self) -> bool:
        return self.results == 0 or not self.close_match


class ResultOpen(models.Model):
    """A shopper opened a result of a search (a storefront link or a widget beacon)."""

    # DO_NOTHING: retention deletes opens before their searches in one transaction, so deleting
    # searches stays one statement (the database still enforces the key).
    search = models.ForeignKey(SearchEvent, on_delete=models.DO_NOTHING, related_name="opens")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    rank = models.PositiveIntegerField()
    product_id = models.BigIntegerField()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"result {self.rank} of search {self.search_id}"


class ClickedPhoto(models.Model):
    """A photo search's vector and the result the shopper opened: a pair the model can be tuned
    on (search.services.tuning), kept only when the merchant opts in (INSIGHTS_TUNE_FROM_CLICKS)
    and deleted with its search (retention). The vector, never the photo."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    model = models.ForeignKey(EmbeddingModel, on_delete=models.CASCADE, related_name="+")
    search_id = models.BigIntegerField()
    product_id = models.BigIntegerField()
    vector = models.BinaryField(help_text="float32 bytes of the query photo's vector")

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["search_id", "product_id"], name="clicked_photo_unique")]

    def __str__(self) -> str:
        return f"clicked photo of search {self.search_id}: product {self.product_id}"


class SelfTestRun(models.Model):
    """A sample of photos searched through the search service: shopper-like copies of catalog
    photos, or (the tuning gate) shop photos held out of a tuned model's training."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Source(models.TextChoices):
        COPIES = "copies", "shopper-like copies of catalog photos"
        HELD_OUT = "held_out", "held-out shop photos"

    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    model = models.ForeignKey(EmbeddingModel, on_delete=models.CASCADE, related_name="self_tests")
    model_name = models.CharField(max_length=100)
    catalog_size = models.PositiveIntegerField(default=0, help_text="Active products when the run started.")
    sample_size = models.PositiveIntegerField(help_text="Photos asked for (one per product).")
    seed = models.PositiveIntegerField(default=0)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.COPIES)
    # Source HELD_OUT: the search-only shop photos a tuned model was not trained on. A sample of
    # them is asked as they are, and none of them counts as a catalog image meanwhile.
    held_out_images = ArrayField(models.BigIntegerField(), default=list, blank=True)
    queries = models.PositiveIntegerField(default=0, help_text="Photos searched.")
    recall_at_1 = models.FloatField(null=True, blank=True)
    recall_at_10 = models.FloatField(null=True, blank=True)
    no_match_share = models.FloatField(null=True, blank=True)
    # [{"category": name, "queries": n, "recall_at_1": .., "recall_at_10": .., "no_match_share": ..}]
    per_category = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "self-test run"

    def __str__(self) -> str:
        return f"self-test of {self.model_name} on {self.created_at:%Y-%m-%d %H:%M}"


class DriftDay(models.Model):
    """One day's figures of a model, compared with its first weeks and its calibration."""

    model = models.ForeignKey(EmbeddingModel, on_delete=models.CASCADE, related_name="drift_days")
    day = models.DateField()
    photo_searches = models.PositiveIntegerField(default=0)
    no_match_searches = models.PositiveIntegerField(default=0)
    # Quantiles of the best distance of that day's photo searches.
    distance_p10 = models.FloatField(null=True, blank=True)
    distance_p50 = models.FloatField(null=True, blank=True)
    distance_p90 = models.FloatField(null=True, blank=True)
    # The share of sampled products whose nearest other product is beyond far_distance.
    far_products_share = models.FloatField(null=True, blank=True)
    products_sampled = models.PositiveIntegerField(default=0)
    far_distance = models.FloatField(null=True, blank=True, help_text="The no-close-match distance that day.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-day"]
        constraints = [models.UniqueConstraint(fields=["model", "day"], name="drift_day_unique")]

    def __str__(self) -> str:
        return f"{self.model.name} on {self.day}"

    @property
    def no_match_share(self) -> float | None:
        return self.no_match_searches / self.photo_searches if self.photo_searches else None
