"""Where "no close match" starts, calibrated per model on its own catalog.

A photo search always shows the nearest products; it also says "no exact match" when even the
best one is farther than the active model's threshold. The threshold is measured, not guessed:

- **positives**, what a real match looks like: shopper-like copies (search/shopper_photos.py:
  cropped, tilted, on a busy background, other light, blurred, JPEG) of a sample of catalog
  photos (several copies of each in a catalog smaller than the sample), embedded by the model, and
  the distance from each to its own product's nearest image; and every sampled search-only shop
  photo against its product's other images;
- **negatives**, for the admin: pairs of sampled catalog images of different products.

The sample and the copies are reproducible: the same catalog and model give the same threshold in
any database (the sample is ordered by a hash of the model, SKU and image bytes, each copy seeded
by the model, the image bytes and the copy's number), never by database ids or ``random()``.

The threshold is the positives' SEARCH_NO_MATCH_KEEP_SHARE quantile (0.995: at most 0.5% of
real matches are flagged). When the sample holds SEARCH_NO_MATCH_MIN_SHOP_PHOTOS or more of the
merchant's search-only shop photos, those real photos alone are the positives: the copies' hardest
1% (a product small on a busy drawn scene) look like anything, and a threshold they set let most
photos of other kinds of products pass (docs/quality.md). A fixed quantile of negatives (the
earlier rule) flagged 43% of shopper photos in a catalog of similar products (issue 11), where
random pairs are close.

The distance compared is the model's **match distance** (Embedder.match_space and
match_vectors): the query and the best images of its first MATCH_CANDIDATES products mapped into
the space the model judges "the same product" in, and the smallest distance there. The offline
preset maps the CNN part of its vectors to its ImageNet classifier's logits, which tells photos
of another kind of product apart far better than its search vectors do
(docs/adr/0011-no-match-in-the-classifier-space.md). Models with no such space use their vectors
as stored. The search distances' own quantiles and threshold are kept for reference (the admin,
the drift watch).

A model that can tell what kinds of things a photo shows (Embedder.kind_space: the offline preset's
ImageNet classes, each described in WordNet's words) adds the **kind check**: a photo whose kinds
are unlike, in words, anything the catalog's product texts and category paths describe, and whose
match distance is beyond the positives' median, is flagged too. A catalog of 81 groceries with one
packshot each has a lenient match threshold (real shop photos are far from packshots), and a shirt
passed it 7 times in 10; its kinds (a jersey, a sweatshirt) are nothing the grocer's words name
(docs/adr/0013-no-match-kind-check.md). Each kind counts by its rank among the kinds
(search/services/kind_relevance.py); a photo's kind score is its kind probabilities against those
ranks, and the score under which KIND_THRESHOLD_SHARE of the sampled catalog photos and shop photos
fall is the kind threshold. Where the shop's own photos set
the match threshold (SEARCH_NO_MATCH_MIN_SHOP_PHOTOS) the kind check is off: that threshold is
already tight.

With fewer than SEARCH_NO_MATCH_MIN_PHOTOS positives (a new or tiny catalog) the calibration
stores no threshold, and nothing is flagged until the catalog has grown
(SEARCH_NO_MATCH_RECALIBRATE_CHANGE) and is calibrated again.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from django.core.cache import cache
from django.utils import timezone

from catalog.image_intake import product_image_rgb_or_none
from catalog.models import ProductImage
from catalog.selectors import category_paths_of_products
from search.conf import search_setting
from search.embedders.base import Embedder, EmbedderLoadError, l2_normalise
from search.models import EmbeddingModel, EmbeddingStatus, ImageEmbedding, NoMatchCalibration
from search.services.kind_relevance import kind_relevance
from search.services.vector_legs import products_nearest
from search.shopper_photos import shopper_photo
from search.vector_store import (
    ImageVectors,
    image_vectors_of_products,
    image_vectors_sample,
    text_vectors_sample,
    vectors_of_images,
)

logger = logging.getLogger(__name__)

QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)
LOCK_KEY = "snapshelf:search:no-match-calibrating:{pk}"
LOCK_SECONDS = 3600
# A photo's match distance is its smallest to the best images of this many nearest products: the
# nearest by search distance is not always the one that looks most alike in the match space.
MATCH_CANDIDATES = 3
# A catalog smaller than the sample has each photo copied several times (copy_seed), at most this
# many: with one copy each, the grocery shop's 81 photos gave a threshold set by its one or two
# hardest copies, which moved with every change of seeds.
COPIES_PER_PHOTO_MAX = 4
# The kind check flags only photos whose match distance is beyond this quantile of the positives'
# (their median): a photo as close as a typical real match is never flagged for its kinds alone.
# On cached vectors this kept 0.7 points of real grocery shop photos and ~0.7 of shopper-like
# fashion copies unflagged for 1.4 points fewer photos of other kinds of products flagged.
KIND_GATE_SHARE = 0.5
# Product texts read for the relevance: a sample of the catalog in a hash order.
KIND_TEXT_SAMPLE = 5000
# The kind threshold: the kind score under which this share of the sampled catalog photos fall.
# Replayed on the service's recorded inputs (docs/quality.md), 2% with the 99.5% match threshold
# flagged fewer shopper-like fashion copies and more grocery photos against the fashion catalog
# than 1% with the 99% one: the kind check, not the match distance, takes the boxes.
KIND_THRESHOLD_SHARE = 0.02


class CalibrationError(RuntimeError):
    """The model cannot be calibrated here (its weights do not load); the message says why."""


def no_match_distance(model: EmbeddingModel) -> float | None:
    """The search distance (cosine, between stored vectors) that keeps SEARCH_NO_MATCH_KEEP_SHARE
    of real matches: what "far" means in search distances (the drift watch). The flag itself
    compares match distances with ``match_threshold`` (``close_match``). None while the model has
    no calibration, or too few photos had."""
    return NoMatchCalibration.objects.filter(model_id=model.pk).values_list("threshold", flat=True).first()


def close_match(model: EmbeddingModel, vector: np.ndarray, image_ids: list[int]) -> bool:
    """Whether a photo (its query ``vector``) is close to the best images of its nearest products
    (nearest first): its match distance within the model's calibrated threshold, and, beyond the
    kind check's gate, its kinds like the catalog's words (kind_score). True (nothing flagged)
    while the model has no threshold, or one measured in another match space. Read on every photo
    search (one row by its unique key), so a new calibration shows at once everywhere."""
    calibration = (
        NoMatchCalibration.objects.filter(model_id=model.pk)
        .values_list("match_space", "match_threshold", "kind_space", "kind_threshold", "kind_gate")
        .first()
    )
    space, threshold, kind_space, kind_threshold, kind_gate = calibration or ("", None, "", None, None)
    if threshold is None or not image_ids:
        return True
    if _spaces(model)[0] != space:
        return True  # the model's match space changed: the sweep calibrates it again
    mapping: Callable[[np.ndarray], np.ndarray] = l2_normalise
    embedder: Embedder | None = None
    if space or kind_space:
        try:
            embedder = _embedder(model)
        except CalibrationError as exc:
            logger.error("no-exact-match check skipped: %s", exc)
            return True
        mapping = embedder.match_vectors if space else mapping
    distance = match_distance(model, mapping, vector, image_ids[:MATCH_CANDIDATES])
    if distance > threshold:
        return False
    if embedder is None or kind_threshold is None or kind_gate is None or distance <= kind_gate:
        return True
    if kind_space != embedder.kind_space:
        return True  # the model's kind space changed: the sweep calibrates it again
    return kind_score(model, embedder, vector) >= kind_threshold


def kind_score(model: EmbeddingModel, embedder: Embedder, vector: np.ndarray) -> float:
    """How much the kinds a photo shows are the catalog's kinds: its kind probabilities weighted by
    each kind's relevance to the product texts, as calibrated (1.0 while there is none)."""
    relevance = NoMatchCalibration.objects.filter(model_id=model.pk).values_list("kind_relevance", flat=True).first()
    if not relevance:
        return 1.0
    probabilities = embedder.kind_probabilities(np.asarray(vector, dtype=np.float32)[None])[0]
    return float(probabilities @ np.asarray(relevance, dtype=np.float32))


def match_distance(
    model: EmbeddingModel, mapping: Callable[[np.ndarray], np.ndarray], vector: np.ndarray, image_ids: list[int]
) -> float:
    """The smallest distance from the query ``vector`` to these stored images in the model's match
    space (``mapping``: its embedder's match_vectors)."""
    stored = vectors_of_images(model, image_ids)
    if not stored:
        return float("inf")
    mapped = mapping(np.stack([np.asarray(vector, dtype=np.float32), *stored.values()]))
    return float(np.min(1.0 - mapped[1:] @ mapped[0]))


def no_match_calibration_due(model: EmbeddingModel) -> bool:
    """The active model (or a built candidate waiting for the merchant), its images all embedded,
    and no calibration yet, one made with another keep share, or the catalog grown or shrunk by
    SEARCH_NO_MATCH_RECALIBRATE_CHANGE since (a shrunk one may have lost the shop photos that set
    its threshold)."""
    if model.status not in (EmbeddingModel.Status.ACTIVE, EmbeddingModel.Status.WAITING):
        return False
    open_rows = [EmbeddingStatus.PENDING, EmbeddingStatus.PROCESSING]
    if ImageEmbedding.objects.filter(model=model, status__in=open_rows).exists():
        return False  # an import or a switch is still embedding: calibrate once, when it is done
    calibration = NoMatchCalibration.objects.filter(model=model).first()
    if calibration is None or calibration.keep_share != float(search_setting("SEARCH_NO_MATCH_KEEP_SHARE")):
        return True
    if (calibration.match_space, calibration.kind_space) != _spaces(model):
        return True
    change = float(search_setting("SEARCH_NO_MATCH_RECALIBRATE_CHANGE"))
    images, calibrated = _ready_images(model), calibration.catalog_images
    return images >= max(calibrated * (1 + change), calibrated + 1) or images <= calibrated * (1 - change)


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
    """Measure positives and negatives on a sample of the catalog and store the thresholds."""
    started = time.monotonic()
    keep_share = float(search_setting("SEARCH_NO_MATCH_KEEP_SHARE"))
    embedder = _embedder(model)
    size = int(search_setting("SEARCH_NO_MATCH_SAMPLE"))
    sample = image_vectors_sample(model, size=size, salt=model.model_id)
    products = image_vectors_of_products(model, sorted(set(sample.product_ids)))
    copies, photos_copied = _copies_measured(model, embedder, sample, products, size=size)
    shop = _shop_photos_measured(embedder, sample, products)
    negatives = _negative_distances(sample)
    shop_decides = shop_photos_decide(len(shop.own))
    if shop_decides:
        # Real photos of the products, taken as shoppers take them: the copies' hardest 1% (a
        # product small on a busy drawn scene) would set a far more lenient threshold.
        positives, matches = shop.own, shop.match
    else:
        positives, matches = np.concatenate([copies.best, shop.own]), np.concatenate([copies.match, shop.match])
    enough = photos_copied + len(shop.own) >= int(search_setting("SEARCH_NO_MATCH_MIN_PHOTOS"))
    # The kind check backs the copies' lenient threshold. Where the shop's own photos set it, it is
    # already tight (it flagged every fashion photo against the grocery shop with its train photos),
    # and those photos' near-duplicates (shots of a product taken one after another) put the gate,
    # their median, so low that the kind check would ask nearly every real photo
    # (docs/adr/0013-no-match-kind-check.md). Nothing of it is computed where it does not apply.
    relevance = _kind_relevance(model, embedder) if enough and not shop_decides else None
    kind_check = relevance is not None
    kind_scores = (
        embedder.kind_probabilities(sample.vectors) @ relevance if relevance is not None else np.zeros(0, np.float32)
    )
    values = {
        "calibrated_at": timezone.now(),
        "catalog_images": _ready_images(model),
        "catalog_products": ImageEmbedding.objects.filter(model=model, status=EmbeddingStatus.READY)
        .values("product_id")
        .distinct()
        .count(),
        "copies": len(copies.own),
        "shop_photos": len(shop.own),
        "negative_pairs": len(negatives),
        "keep_share": keep_share,
        "positive_quantiles": _quantiles(positives),
        "own_product_quantiles": _quantiles(np.concatenate([copies.own, shop.own])),
        "negative_quantiles": _quantiles(negatives),
        "threshold": float(np.quantile(positives, keep_share)) if enough else None,
        "match_space": embedder.match_space,
        "match_quantiles": _quantiles(matches),
        "match_threshold": float(np.quantile(matches, keep_share)) if enough else None,
        "kind_space": embedder.kind_space,
        "kind_relevance": [round(float(value), 5) for value in relevance] if relevance is not None else [],
        "kind_quantiles": _quantiles(kind_scores),
        "kind_threshold": float(np.quantile(kind_scores, KIND_THRESHOLD_SHARE)) if kind_check else None,
        "kind_gate": float(np.quantile(matches, KIND_GATE_SHARE)) if kind_check else None,
        "seconds": round(time.monotonic() - started, 2),
    }
    calibration, _ = NoMatchCalibration.objects.update_or_create(model=model, defaults=values)
    logger.info(
        "no-match calibration of %s: threshold %s (%s) from %d copies and %d shop photos (%.1f s)",
        model.name, calibration.match_threshold, calibration.match_space or "search distance",
        len(copies.own), len(shop.own), calibration.seconds,
    )  # fmt: skip
    return calibration


def shop_photos_decide(shop_photos: int) -> bool:
    """Whether a calibration that measured this many search-only shop photos takes its threshold
    from them alone (SEARCH_NO_MATCH_MIN_SHOP_PHOTOS), leaving the copies out."""
    return shop_photos >= int(search_setting("SEARCH_NO_MATCH_MIN_SHOP_PHOTOS"))


def _kind_relevance(model: EmbeddingModel, embedder: Embedder) -> np.ndarray | None:
    """Each of the model's kinds' relevance to the catalog (search/services/kind_relevance.py) from
    a sample of its product texts and the paths of its categories that hold products. None for a
    model with no kind space, or a catalog with no product text vectors yet."""
    if not embedder.kind_space:
        return None
    texts = text_vectors_sample(model, size=KIND_TEXT_SAMPLE, salt=model.model_id)
    if not len(texts):
        return None
    kinds = embedder.embed_texts(embedder.kind_descriptions())
    paths = category_paths_of_products()
    path_similarity = kinds @ l2_normalise(embedder.embed_texts(paths)).T if paths else None
    return kind_relevance(kinds @ l2_normalise(texts).T, path_similarity)


def _ready_images(model: EmbeddingModel) -> int:
    return ImageEmbedding.objects.filter(model=model, status=EmbeddingStatus.READY).count()


def _spaces(model: EmbeddingModel) -> tuple[str, str]:
    """The model's match space and kind space as its embedder class names them now (a tuned model's
    are its base model's; "" for a class that cannot be imported)."""
    from search.embedders.registry import embedder_spaces

    try:
        return embedder_spaces(model.name)
    except EmbedderLoadError:
        return "", ""


@dataclass(frozen=True)
class Positives:
    """Distances of real matches, one per photo: to its own product's nearest image (search
    distance), to the best match in the catalog (search distance), and its match distance (the
    statistic the flag compares)."""

    own: np.ndarray
    best: np.ndarray
    match: np.ndarray


def _positives(own: list[float], best: list[float], match: list[float]) -> Positives:
    return Positives(*(np.array(values, dtype=np.float32) for values in (own, best, match)))


def copy_seed(salt: str, sha256: str, number: int) -> int:
    """The shopper_photo seed of a photo's ``number``-th copy: from the model (``salt``) and the
    photo's bytes, so that the same catalog gives the same copies in any database."""
    return int.from_bytes(hashlib.sha256(f"{salt}|{sha256}|{number}".encode()).digest()[:8], "big")


def copies_per_photo(photos: int, size: int) -> int:
    """How many copies of each sampled catalog photo are measured: one, or in a catalog with fewer
    photos than the sample ``size`` (and enough for a threshold) up to COPIES_PER_PHOTO_MAX, so that
    the threshold, a high quantile, rests on more than a few of the hardest copies."""
    if photos < int(search_setting("SEARCH_NO_MATCH_MIN_PHOTOS")):
        return 1
    return max(1, min(COPIES_PER_PHOTO_MAX, size // max(1, photos)))


def _copies_measured(
    model: EmbeddingModel, embedder: Embedder, sample: ImageVectors, products: ImageVectors, *, size: int
) -> tuple[Positives, int]:
    """Shopper-like copies of the sampled catalog photos, searched for as a shopper's photo is;
    and how many photos were copied."""
    from search.services.product_search import NO_FILTERS, product_filter_build  # it imports this module

    wanted = [
        (pk, product)
        for pk, product, hidden in zip(sample.image_ids, sample.product_ids, sample.search_only, strict=True)
        if not hidden
    ]
    files = ProductImage.objects.in_bulk([pk for pk, _ in wanted])
    photos = [(image, product) for pk, product in wanted if (image := files.get(pk)) is not None]
    each = copies_per_photo(len(photos), size)
    copies, owners, copied = [], [], 0
    for image, product in photos:
        photo = product_image_rgb_or_none(image, purpose="calibration")
        if photo is None:
            continue
        copied += 1
        for number in range(each):
            copies.append(shopper_photo(photo, seed=copy_seed(model.model_id, image.sha256, number)))
            owners.append(product)
    vectors = embedder.embed_query_images(copies)  # embedded as photo searches are
    everything = product_filter_build(NO_FILTERS)
    best_images = int(search_setting("SEARCH_PHOTO_BEST_IMAGES"))  # the products a photo search would show
    own, best, match = [], [], []
    for vector, product in zip(vectors, owners, strict=True):
        own.append(_nearest(vector, products, product)[0])
        nearest = products_nearest(
            model, "image", vector, products=MATCH_CANDIDATES, product_filter=everything, best_images=best_images
        )
        best.append(min((m.distance for m in nearest), default=float("inf")))
        image_ids = [m.image_id for m in nearest if m.image_id is not None]
        match.append(match_distance(model, embedder.match_vectors, vector, image_ids))
    return _positives(own, best, match), copied


def _shop_photos_measured(embedder: Embedder, sample: ImageVectors, products: ImageVectors) -> Positives:
    """Each sampled search-only shop photo against its product's other images (when it has any):
    the nearest one, and the match distance to it."""
    own, match = [], []
    for pk, product, vector, hidden in zip(
        sample.image_ids, sample.product_ids, sample.vectors, sample.search_only, strict=True
    ):
        if not hidden:
            continue
        distance, index = _nearest(l2_normalise(vector[None])[0], products, product, leave_out=pk)
        if index is not None:
            mapped = embedder.match_vectors(np.stack([vector, products.vectors[index]]))
            own.append(distance)
            match.append(float(1.0 - mapped[0] @ mapped[1]))
    return _positives(own, own, match)


def _nearest(
    vector: np.ndarray, products: ImageVectors, product: int, *, leave_out: int | None = None
) -> tuple[float, int | None]:
    """The search distance to the product's nearest image, and that image's row in ``products``."""
    rows = [
        index
        for index, (pk, owner) in enumerate(zip(products.image_ids, products.product_ids, strict=True))
        if owner == product and pk != leave_out
    ]
    if not rows:
        return float("inf"), None
    distances = 1.0 - l2_normalise(products.vectors[rows]) @ vector
    return float(np.min(distances)), rows[int(np.argmin(distances))]


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


def _embedder(model: EmbeddingModel) -> Embedder:
    from search.embedders.registry import embedder_get

    try:
        embedder = embedder_get(model.name)
    except EmbedderLoadError as exc:
        raise CalibrationError(f"{model.name} cannot be loaded: {exc}") from exc
    if embedder.model_id != model.model_id:
        raise CalibrationError(f"{model.name} now loads {embedder.model_id}, not {model.model_id}")
    return embedder
