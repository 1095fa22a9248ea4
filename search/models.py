"""The search index: which models exist, and one row of work-and-result per (item, model).

A vector row is also the record of work still to do: ``pending`` rows are the queue, so a
lost broker message or a dead worker costs time, never data. Vectors of every model live
side by side in untyped ``vector`` columns; each model gets its own partial HNSW index on
``embedding::halfvec(dim)`` or ``embedding::vector(dim)`` (see search/vector_store.py, the one
module with vector SQL).
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, GistIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from pgvector.django import VectorField

from catalog.models import Product, ProductImage

# Tuned models are named "<base name>+tuned-<ModelAdapter pk>" (search.embedders.registry).
TUNED_SEPARATOR = "+tuned-"


class EmbeddingModel(models.Model):
    """A model the index has vectors for. At most one is active; one may be building; built
    candidates that did not pass their gate wait for the merchant."""

    class Status(models.TextChoices):
        BUILDING = "building", "Building"
        ACTIVE = "active", "Active"
        # Built, but its self-test did not beat the active model's (a gated candidate, e.g. a
        # tuned model): it waits until the merchant activates it, or a newer candidate replaces it.
        WAITING = "waiting", "Built, waiting"
        RETIRED = "retired", "Retired"

    class IndexPrecision(models.TextChoices):
        VECTOR = "vector", "Single precision (vector)"
        HALFVEC = "halfvec", "Half precision (halfvec)"
        BIT = "bit", "Binary quantisation (bit), re-ranked"

    name = models.CharField(max_length=100, help_text="Key in SNAPSHELF_EMBEDDING_MODELS.")
    model_id = models.CharField(max_length=300, unique=True, help_text="The exact weights and preprocessing.")
    image_dim = models.PositiveIntegerField()
    text_dim = models.PositiveIntegerField()
    shared_space = models.BooleanField(help_text="Text and image vectors share one space (CLIP).")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.BUILDING)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    # The cast the model's HNSW indexes were built on; queries repeat it to use them. Set when the
    # indexes are built (SNAPSHELF_INDEX_PRECISION), changed by `manage.py search_model reindex`.
    index_precision = models.CharField(
        max_length=10, choices=IndexPrecision.choices, default=IndexPrecision.VECTOR, editable=False
    )
    # A gated candidate replaces the active model only when its self-test beats the active one's
    # (insights' gate); otherwise it waits. `search_model activate` and the admin ungate it.
    gated = models.BooleanField(default=False, editable=False)
    gate_verdict = models.TextField(blank=True, editable=False, help_text="What the gate measured and decided.")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=models.Q(status="active"), name="one_active_model"),
            models.UniqueConstraint(
                fields=["status"], condition=models.Q(status="building"), name="one_building_model"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.model_id}, {self.status})"

    @property
    def is_wanted(self) -> bool:
        return self.status in (self.Status.BUILDING, self.Status.ACTIVE)

    @property
    def is_tuned(self) -> bool:
        return TUNED_SEPARATOR in self.name


class ModelAdapter(models.Model):
    """A light adapter learned over a model's frozen image vectors from the shop's own photos
    (search/tuning.py, search/services/tuning.py). Its weights live here, in the database, so
    every web and worker process loads the same ones; the tuned model's name,
    ``<base name>+tuned-<pk>``, points back to this row (search.embedders.registry)."""

    created_at = models.DateTimeField(auto_now_add=True)
    base = models.ForeignKey(EmbeddingModel, on_delete=models.CASCADE, related_name="adapters")
    base_name = models.CharField(max_length=100)
    weights = models.BinaryField(help_text="NumPy .npz: down (dim x rank), up (rank x dim), float32.")
    digest = models.CharField(max_length=64, help_text="SHA-256 of the weights.")
    dim = models.PositiveIntegerField()
    rank = models.PositiveIntegerField()
    # Products, photos, shop photos, clicked photos, steps, losses, seconds, options.
    training = models.JSONField(default=dict)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.model_name

    @property
    def model_name(self) -> str:
        return f"{self.base_name}{TUNED_SEPARATOR}{self.pk}"


class EmbeddingStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class EmbeddingRow(models.Model):
    """Fields shared by image and product-text vectors."""

    model = models.ForeignKey(EmbeddingModel, on_delete=models.CASCADE, related_name="+")
    embedding = VectorField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=EmbeddingStatus.choices, default=EmbeddingStatus.PENDING)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # What was embedded (image bytes' SHA-256, or a hash of the product text): unchanged input is not re-embedded.
    source_hash = models.CharField(max_length=64, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=200, blank=True)
    available_at = models.DateTimeField(null=True, blank=True, help_text="Retry no earlier than this.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class ImageEmbedding(EmbeddingRow):
    image = models.ForeignKey(ProductImage, on_delete=models.CASCADE, related_name="embeddings")
    # Denormalised so that search can group by product without a join.
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="image_embeddings")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["image", "model"], name="image_embedding_unique")]
        indexes = [
            models.Index(fields=["model", "status"], name="image_embedding_queue"),
            models.Index(fields=["product", "model"], name="image_embedding_product"),
        ]

    def __str__(self) -> str:
        return f"image {self.image_id} / model {self.model_id}: {self.status}"


class ProductEmbedding(EmbeddingRow):
    """The vector of a product's text (title, brand, category path, attributes, description)."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="text_embeddings")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product", "model"], name="product_embedding_unique")]
        indexes = [models.Index(fields=["model", "status"], name="product_embedding_queue")]

    def __str__(self) -> str:
        return f"product {self.product_id} / model {self.model_id}: {self.status}"


class ProductKeywords(models.Model):
    """A product's full-text document for the keyword leg of search, kept beside the catalog.

    A separate table because the document needs the category path (a join) and because the
    ``catalog`` app should not know how search weighs its fields. Refreshed whenever the
    product's embedding text is marked (search/signals.py).
    """

    product = models.OneToOneField(Product, on_delete=models.CASCADE, primary_key=True, related_name="+")
    # Weighted: title and SKU A, brand, category and attributes B, description D.
    document = SearchVectorField()
    # Upper-cased SKU for prefix matches with a pattern-ops btree (LIKE 'ABC%').
    sku_key = models.CharField(max_length=100)
    # The product's brand, category names and attribute values, each as the sorted stems of its
    # words ("Navy Blue" -> "blue navy"), stop words kept ("Off White" -> "off white"): a query
    # that says a whole value ranks the product above those it only partly describes
    # (search/services/keywords.py).
    named_values = ArrayField(models.CharField(max_length=200), default=list)

    class Meta:
        indexes = [
            GinIndex(fields=["document"], name="product_keywords_document"),
            models.Index(fields=["sku_key"], name="product_keywords_sku", opclasses=["varchar_pattern_ops"]),
        ]

    def __str__(self) -> str:
        return f"keywords of product {self.product_id}"


class VocabularyWord(models.Model):
    """A word of the catalog (titles, brands, attribute values, category names), for correcting
    typos in search words (search/services/keywords.py).

    The pg_trgm GiST index answers "the words closest to this one" (``word <-> 'purpel'``) and
    "a word starting with this" (``LIKE``) without reading the whole vocabulary. New words are
    added with every product's keyword document; words no product uses any more are dropped by a
    periodic rebuild (``search.tasks.vocabulary_rebuild``).
    """

    word = models.CharField(max_length=50, primary_key=True)

    class Meta:
        indexes = [GistIndex(fields=["word"], name="vocabulary_word_trigrams", opclasses=["gist_trgm_ops"])]

    def __str__(self) -> str:
        return self.word


class QueryPhoto(models.Model):
    """A shopper's photo query, kept under a random token so that pages, filter changes, the crop
    box and the API's next page reuse its vector instead of embedding the photo again.

    Kept in Postgres, not in the Redis that carries Celery's queues: a burst of photo searches
    cannot fill the broker's memory, and photo search keeps working while Redis is down
    (docs/adr/0008-query-photos-in-postgres.md). Rows expire after SNAPSHELF_SEARCH_QUERY_TTL_SECONDS
    and are deleted by the periodic ``search.tasks.query_photos_purge``.
    """

    token = models.CharField(max_length=64, primary_key=True)
    # SHA-256 of who may use the token (the storefront session, the API key): a token copied
    # from a URL or a log is worthless to anyone else.
    owner = models.CharField(max_length=64)
    model_id = models.CharField(max_length=300, help_text="EmbeddingModel.model_id of the vector.")
    vector = models.BinaryField(help_text="float32 bytes")
    photo_jpeg = models.BinaryField(null=True, blank=True, help_text="Only with SNAPSHELF_SEARCH_KEEP_QUERY_PHOTO.")
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"query photo until {self.expires_at:%Y-%m-%d %H:%M}"


class NoMatchCalibration(models.Model):
    """Where "no close match" starts for one model, worked out from its own catalog.

    Positives: shopper-like copies (search/shopper_photos.py) of a sample of catalog photos,
    embedded by the model and searched for in the catalog, and the merchant's search-only shop
    photos against their product's other images. Negatives: random pairs of catalog images of
    different products. The threshold is the positives' ``keep_share`` quantile, so that share of
    real matches is never flagged; the flag uses it in the model's match space
    (``match_threshold``, docs/adr/0011-no-match-in-the-classifier-space.md), and the search
    distances' own is kept for reference. Recomputed in the background
    (search/services/no_match.py) after a model switch and when the catalog grows.
    """

    model = models.OneToOneField(EmbeddingModel, on_delete=models.CASCADE, related_name="no_match_calibration")
    calibrated_at = models.DateTimeField()
    # Image vectors of the model (and products) when calibrated: a change beyond a share recalibrates.
    catalog_images = models.PositiveIntegerField()
    catalog_products = models.PositiveIntegerField()
    copies = models.PositiveIntegerField(help_text="Shopper-like copies of catalog photos measured.")
    shop_photos = models.PositiveIntegerField(help_text="Search-only shop photos measured against their product.")
    negative_pairs = models.PositiveIntegerField()
    keep_share = models.FloatField(help_text="Share of positives the threshold keeps (close match).")
    # Cosine distances by quantile, e.g. {"0.5": 0.21, "0.9": 0.3, "0.99": 0.38, "1.0": 0.41}.
    # Positives: each copy's best match in the catalog (search distance).
    positive_quantiles = models.JSONField(default=dict)
    # The same copies against their own product (larger when another product looks closer).
    own_product_quantiles = models.JSONField(default=dict)
    negative_quantiles = models.JSONField(default=dict)
    # The positives' keep_share quantile of the search distance (the drift watch's "far" distance).
    # None: too few photos to calibrate (no photo search is flagged).
    threshold = models.FloatField(null=True, blank=True)
    # What the flag decides on: the best matches' distance in the model's match space
    # (Embedder.match_space; "" = the vectors as stored), its positives by quantile and the
    # threshold that keeps keep_share of them. A photo search is flagged beyond match_threshold.
    match_space = models.CharField(max_length=100, blank=True, default="")
    match_quantiles = models.JSONField(default=dict)
    match_threshold = models.FloatField(null=True, blank=True)
    # The kind check (Embedder.kind_space; "" = none, docs/adr/0013-no-match-kind-check.md): how
    # close each kind the model tells apart is, in words, to the catalog's product texts and
    # category paths (kind_relevance, one rank per kind); a photo's kind score is its kind
    # probabilities against that. The sampled catalog photos' kind scores by quantile, the score
    # under which 2% of them fall (kind_threshold), and the match distance beyond which a low kind
    # score flags (kind_gate).
    kind_space = models.CharField(max_length=100, blank=True, default="")
    kind_relevance = models.JSONField(default=list, blank=True)
    kind_quantiles = models.JSONField(default=dict, blank=True)
    kind_threshold = models.FloatField(null=True, blank=True)
    kind_gate = models.FloatField(null=True, blank=True)
    seconds = models.FloatField(default=0.0, help_text="How long the calibration took.")

    def __str__(self) -> str:
        return f"no-match calibration of model {self.model_id}: {self.match_threshold}"
