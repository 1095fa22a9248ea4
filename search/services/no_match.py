"""Where "no close match" starts, calibrated per model on its own catalog.

A photo search always shows the nearest products; it also says "no exact match" when even the
best one is farther than the active model's threshold. The threshold is measured, not guessed:

- **positives**, what a real match looks like: shopper-like copies (search/shopper_photos.py:
  cropped, tilted, on a busy background, other light, blurred, JPEG) of a random sample of
  catalog photos, embedded by the model, and the distance from each to its own product's nearest
  image; and every sampled search-only shop photo against its product's other images;
- **negatives**, for the admin: random pairs of catalog images of different products.

The threshold is the positives' SEARCH_NO_MATCH_KEEP_SHARE quantile (0.99: at most 1% of
real matches are flagged). A fixed quantile of negatives (the earlier rule) flagged 43% of
shopper photos in a catalog of similar products (issue 11), where random pairs are close.

With fewer than SEARCH_NO_MATCH_MIN_PHOTOS positives (a new or tiny catalog) the calibration
stores no threshold, and nothing is flagged until the catalog has grown
(SEARCH_NO_MATCH_RECALIBRATE_GROWTH) and is calibrated again.
"""

from __future__ import annotations

import logging
import time

import numpy as np
from django.core.cache import cache
from django.utils import timezone
from PIL import Image

from catalog.image_intake import ImageRejected, image_to_rgb
from catalog.models import ProductImage
from search.conf import search_setting
from search.embedders.base import Embedder, EmbedderLoadError, l2_normalise
from search.models import EmbeddingModel, EmbeddingStatus, ImageEmbedding, NoMatchCalibration
from search.services.vector_legs import neighbours
from search.shopper_photos import shopper_photo
from search.vector_store import ImageVectors, image_vectors_of_products, image_vectors_sample

logger = logging.getLogger(__name__)

QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)
LOCK_KEY = "snapshelf:search:no-match-calibrating:{pk}"
LOCK_SECONDS = 3600


class CalibrationError(RuntimeError):
    """The model cannot be calibrated here (its weights do not load); the message says why."""


def no_match_distance(model: EmbeddingModel) -> float | None:
    """Beyond this cosine distance a photo's best match is "no exact match"; None while the model
    has no calibration (or too few photos had): then nothing is flagged. Read on every photo
    search (one row by its unique key), so a new calibration shows at once everywhere."""
    return NoMatchCalibration.objects.filter(model_id=model.pk).values_list("threshold", flat=True).first()


def no_match_calibration_due(model: EmbeddingModel) -> bool:
    """The active model, its images all embedded, and no calibration yet, one made with another
    keep share, or the catalog grown by SEARCH_NO_MATCH_RECALIBRATE_GROWTH since."""
    if model.status != EmbeddingModel.Status.ACTIVE:
        return False
    open_rows = [EmbeddingStatus.PENDING, EmbeddingStatus.PROCESSING]
    if ImageEmbedding.objects.filter(model=model, status__in=open_rows).exists():
        return False  # an import or a switch is still embedding: calibrate once, when it is done
    calibration = NoMatchCalibration.objects.filter(model=model).first()
    if calibration is None or calibration.keep_share != float(search_setting("SEARCH_NO_MATCH_KEEP_SHARE")):
        return True
    grown = calibration.catalog_images * (1 + float(search_setting("SEARCH_NO_MATCH_RECALIBRATE_GROWTH")))
    return _ready_images(model) >= max(grown, calibration.catalog_images + 1)


def no_match_calibration_refresh(model_id: int, *, force: bool = False) -> NoMatchCalibration | None:
    """Calibrate the model when due (or ``force``); safe to run twice or at once in two workers."""
    model = EmbeddingModel.objects.filter(pk=model_id).first()
    if model is None or (not force and not no_match_calibration_due(model)):
        return None
    lock = LOCK_KEY.format(pk=model_id)
    if not cache.add(lock, 1, timeout=LOCK_SECONDS):
        return None  # another worker is calibrating it
    try:
        return no_match_calibrate(model)
    finally:
        cache.delete(lock)


def no_match_calibrate(model: EmbeddingModel) -> NoMatchCalibration:
    """Measure positives and negatives on a sample of the catalog and store the threshold."""
    started = time.monotonic()
    keep_share = float(search_setting("SEARCH_NO_MATCH_KEEP_SHARE"))
    sample = image_vectors_sample(model, size=int(search_setting("SEARCH_NO_MATCH_SAMPLE")))
    products = image_vectors_of_products(model, sorted(set(sample.product_ids)))
    copies, copies_best = _copy_distances(model, sample, products)
    shop = _shop_photo_distances(sample, products)
    negatives = _negative_distances(sample)
    positives = np.concatenate([copies_best, shop])
    enough = len(positives) >= int(search_setting("SEARCH_NO_MATCH_MIN_PHOTOS"))
    values = {
        "calibrated_at": timezone.now(),
        "catalog_images": _ready_images(model),
        "catalog_products": ImageEmbedding.objects.filter(model=model, status=EmbeddingStatus.READY)
        .values("product_id")
        .distinct()
        .count(),
        "copies": len(copies),
        "shop_photos": len(shop),
        "negative_pairs": len(negatives),
        "keep_share": keep_share,
        "positive_quantiles": _quantiles(positives),
        "own_product_quantiles": _quantiles(np.concatenate([copies, shop])),
        "negative_quantiles": _quantiles(negatives),
        "threshold": float(np.quantile(positives, keep_share)) if enough else None,
        "seconds": round(time.monotonic() - started, 2),
    }
    calibration, _ = NoMatchCalibration.objects.update_or_create(model=model, defaults=values)
    logger.info(
        "no-match calibration of %s: threshold %s from %d copies and %d shop photos (%.1f s)",
        model.name, calibration.threshold, len(copies), len(shop), calibration.seconds,
    )  # fmt: skip
    return calibration


def _ready_images(model: EmbeddingModel) -> int:
    return ImageEmbedding.objects.filter(model=model, status=EmbeddingStatus.READY).count()


def _copy_distances(
    model: EmbeddingModel, sample: ImageVectors, products: ImageVectors
) -> tuple[np.ndarray, np.ndarray]:
    """Each sampled catalog photo's shopper-like copy: its distance to its own product's nearest
    image, and to the best match in the catalog (the same or less)."""
    wanted = [
        (pk, product)
        for pk, product, hidden in zip(sample.image_ids, sample.product_ids, sample.search_only, strict=True)
        if not hidden
    ]
    files = ProductImage.objects.in_bulk([pk for pk, _ in wanted])
    copies, owners = [], []
    for pk, product in wanted:
        photo = _photo(files.get(pk))
        if photo is not None:
            copies.append(shopper_photo(photo, seed=pk))
            owners.append(product)
    if not copies:
        return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.float32)
    vectors = l2_normalise(_embedder(model).embed_query_images(copies))  # embedded as photo searches are
    own = np.array([_nearest(vector, products, product) for vector, product in zip(vectors, owners, strict=True)])
    return own, np.array([_best(model, vector) for vector in vectors])


def _best(model: EmbeddingModel, vector: np.ndarray) -> float:
    """The distance of the best match in the whole catalog, as a search finds it."""
    from search.services.product_search import NO_FILTERS, product_filter_build  # it imports this module

    rows = neighbours(model, "image", vector, limit=1, product_filter=product_filter_build(NO_FILTERS))
    return rows[0].distance if rows else float("inf")


def _shop_photo_distances(sample: ImageVectors, products: ImageVectors) -> np.ndarray:
    """Each sampled search-only shop photo against its product's other images (when it has any)."""
    distances = []
    for pk, product, vector, hidden in zip(
        sample.image_ids, sample.product_ids, sample.vectors, sample.search_only, strict=True
    ):
        if hidden:
            distance = _nearest(l2_normalise(vector[None])[0], products, product, leave_out=pk)
            if np.isfinite(distance):
                distances.append(distance)
    return np.array(distances, dtype=np.float32)


def _nearest(vector: np.ndarray, products: ImageVectors, product: int, *, leave_out: int | None = None) -> float:
    rows = [
        index
        for index, (pk, owner) in enumerate(zip(products.image_ids, products.product_ids, strict=True))
        if owner == product and pk != leave_out
    ]
    if not rows:
        return float("inf")
    return float(np.min(1.0 - l2_normalise(products.vectors[rows]) @ vector))


def _negative_distances(sample: ImageVectors) -> np.ndarray:
    """Every pair of sampled images of two different products."""
    vectors = l2_normalise(sample.vectors)
    owners = np.array(sample.product_ids)
    upper = np.triu_indices(len(vectors), k=1)
    different = owners[upper[0]] != owners[upper[1]]
    return (1.0 - vectors @ vectors.T)[upper][different]


def _quantiles(distances: np.ndarray) -> dict[str, float]:
    if len(distances) == 0:
        return {}
    return {str(q): round(float(np.quantile(distances, q)), 4) for q in QUANTILES}


def _photo(image: ProductImage | None) -> Image.Image | None:
    if image is None or not image.file:
        return None
    try:
        with image.file.open("rb") as handle:
            return image_to_rgb(handle.read())
    except (OSError, ImageRejected) as exc:
        logger.info("calibration skips image %s: %s", image.pk, exc)
        return None


def _embedder(model: EmbeddingModel) -> Embedder:
    from search.embedders.registry import embedder_get

    try:
        embedder = embedder_get(model.name)
    except EmbedderLoadError as exc:
        raise CalibrationError(f"{model.name} cannot be loaded: {exc}") from exc
    if embedder.model_id != model.model_id:
        raise CalibrationError(f"{model.name} now loads {embedder.model_id}, not {model.model_id}")
    return embedder
