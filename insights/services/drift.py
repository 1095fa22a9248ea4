"""Drift watch: a model's daily figures, compared with its first weeks and its calibration.

Three figures per model and day (``DriftDay``):

- the best distance of photo searches (10th, 50th and 90th percentile): how far shoppers'
  photos are from the nearest catalog photo;
- the share of photo searches with no close match;
- the share of a sample of products whose nearest other product is farther than the
  no-close-match distance: products with nothing like them in the catalog.

The reference is the model's first INSIGHTS_DRIFT_BASELINE_DAYS days in use. Where the model has
a calibration of what a real match's distance is (``calibration_reference``), the median best
distance is compared with that too. A figure of the last INSIGHTS_DRIFT_RECENT_DAYS days that has
moved past its bound is flagged, with what it likely means.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from dataclasses import dataclass
from statistics import median

from django.db.models import Count, Q
from django.utils import timezone

from insights.aggregates import Percentile
from insights.conf import insights_setting
from insights.models import DriftDay, SearchEvent
from insights.selectors import PHOTO_KINDS, DateRange
from search.models import EmbeddingModel, EmbeddingStatus, ImageEmbedding
from search.services.model_switch import embedding_model_active
from search.services.no_match import no_match_distance
from search.services.product_search import NO_FILTERS, product_filter_build
from search.services.vector_legs import products_nearest
from search.vector_store import vectors_of_images

logger = logging.getLogger(__name__)


def drift_days_update(*, today: dt.date | None = None) -> list[DriftDay]:
    """Today's and yesterday's figures for every model searched on those days (and the active one)."""
    today = today or timezone.localdate()
    updated = []
    for day in (today - dt.timedelta(days=1), today):
        model_ids = set(
            SearchEvent.objects.filter(DateRange(day, day).q(), model__isnull=False)
            .values_list("model_id", flat=True)
            .distinct()
        )
        active = embedding_model_active()
        if active is not None:
            model_ids.add(active.pk)
        for model in EmbeddingModel.objects.filter(pk__in=model_ids):
            updated.append(drift_day_compute(model, day))
    return updated


def drift_day_compute(model: EmbeddingModel, day: dt.date) -> DriftDay:
    """The day's search figures (again, as searches come in); far products once a day."""
    photo = SearchEvent.objects.filter(DateRange(day, day).q(), model=model, kind__in=PHOTO_KINDS)
    figures = photo.aggregate(
        searches=Count("id"),
        no_match=Count("id", filter=Q(close_match=False)),
        p10=Percentile("best_distance", 0.1, filter=Q(best_distance__isnull=False)),
        p50=Percentile("best_distance", 0.5, filter=Q(best_distance__isnull=False)),
        p90=Percentile("best_distance", 0.9, filter=Q(best_distance__isnull=False)),
    )
    row, _ = DriftDay.objects.get_or_create(model=model, day=day)
    row.photo_searches, row.no_match_searches = figures["searches"], figures["no_match"]
    row.distance_p10, row.distance_p50, row.distance_p90 = figures["p10"], figures["p50"], figures["p90"]
    if row.far_products_share is None and model.status != EmbeddingModel.Status.RETIRED:
        row.far_distance = no_match_distance(model)
        row.far_products_share, row.products_sampled = far_products_share(model, row.far_distance, seed=day.toordinal())
    row.save()
    return row


def far_products_share(model: EmbeddingModel, far: float | None, *, seed: int) -> tuple[float | None, int]:
    """The share of sampled products whose nearest other product is beyond ``far``, and the sample size."""
    if far is None:
        return None, 0
    firsts = (
        ImageEmbedding.objects.filter(model=model, status=EmbeddingStatus.READY, product__is_active=True)
        .order_by("product_id", "image_id")
        .distinct("product_id")
        .values_list("product_id", "image_id")
    )
    pairs = sorted(firsts)
    pairs = random.Random(seed).sample(pairs, min(len(pairs), insights_setting("INSIGHTS_DRIFT_PRODUCT_SAMPLE")))
    if len(pairs) < 2:
        return None, 0
    vectors = vectors_of_images(model, [image_id for _, image_id in pairs])
    everything = product_filter_build(NO_FILTERS)
    far_count = sampled = 0
    for product_id, image_id in pairs:
        vector = vectors.get(image_id)
        if vector is None:
            continue
        nearest = products_nearest(model, "image", vector, products=2, product_filter=everything)
        other = next((m for m in nearest if m.product_id != product_id), None)
        sampled += 1
        far_count += other is None or other.distance > far
    return (far_count / sampled if sampled else None), sampled


# --- comparing -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    days: int
    photo_searches: int
    distance_p50: float | None
    no_match_share: float | None
    far_products_share: float | None


def _window(rows: list[DriftDay]) -> Window:
    searches = sum(r.photo_searches for r in rows)
    medians = [r.distance_p50 for r in rows if r.distance_p50 is not None]
    far = [r.far_products_share for r in rows if r.far_products_share is not None]
    return Window(
        days=len(rows),
        photo_searches=searches,
        distance_p50=median(medians) if medians else None,
        no_match_share=sum(r.no_match_searches for r in rows) / searches if searches else None,
        far_products_share=sum(far) / len(far) if far else None,
    )


@dataclass(frozen=True)
class DriftFlag:
    figure: str
    now: float
    reference: float
    reference_name: str  # "first weeks" or "calibration"
    message: str


@dataclass(frozen=True)
class DriftReport:
    model: EmbeddingModel
    baseline: Window
    recent: Window
    calibration_p50: float | None
    flags: list[DriftFlag]
    days: list[DriftDay]  # oldest first, for the chart


def calibration_reference(model: EmbeddingModel) -> float | None:
    """The median distance of a real match in the model's calibration (shopper-like copies
    against their own product), when the search app stores one; None until then."""
    # search.NoMatchCalibration (one per model, once calibrated); a missing one raises a
    # RelatedObjectDoesNotExist, which is an AttributeError.
    calibration = getattr(model, "no_match_calibration", None)
    quantiles = getattr(calibration, "positive_quantiles", None) or {}
    value = quantiles.get("0.5") if isinstance(quantiles, dict) else None
    return float(value) if value is not None else None


def drift_report(model: EmbeddingModel, *, today: dt.date | None = None) -> DriftReport:
    today = today or timezone.localdate()
    start = (model.activated_at or model.created_at).date()
    baseline_end = start + dt.timedelta(days=insights_setting("INSIGHTS_DRIFT_BASELINE_DAYS") - 1)
    recent_start = today - dt.timedelta(days=insights_setting("INSIGHTS_DRIFT_RECENT_DAYS") - 1)
    days = list(DriftDay.objects.filter(model=model).order_by("day"))
    baseline = _window([r for r in days if start <= r.day <= baseline_end and r.day < recent_start])
    recent = _window([r for r in days if recent_start <= r.day <= today])
    calibration = calibration_reference(model)
    return DriftReport(model, baseline, recent, calibration, _flags(baseline, recent, calibration), days)


def _flags(baseline: Window, recent: Window, calibration: float | None) -> list[DriftFlag]:
    enough = insights_setting("INSIGHTS_DRIFT_MIN_QUERIES")
    flags: list[DriftFlag] = []
    if recent.photo_searches < enough:
        return flags
    rise = insights_setting("INSIGHTS_DRIFT_DISTANCE_RISE")
    references = []
    if baseline.photo_searches >= enough and baseline.distance_p50 is not None:
        references.append(("first weeks", baseline.distance_p50))
    if calibration is not None:
        references.append(("calibration", calibration))
    for name, reference in references:
        if recent.distance_p50 is not None and recent.distance_p50 > reference * (1 + rise):
            flags.append(DriftFlag("distance", recent.distance_p50, reference, name, DISTANCE_MESSAGE))
            break
    points = insights_setting("INSIGHTS_DRIFT_NO_MATCH_RISE")
    if (
        baseline.photo_searches >= enough
        and recent.no_match_share is not None
        and baseline.no_match_share is not None
        and recent.no_match_share > baseline.no_match_share + points
    ):
        flags.append(
            DriftFlag("no_match", recent.no_match_share, baseline.no_match_share, "first weeks", NO_MATCH_MESSAGE)
        )
    far_rise = insights_setting("INSIGHTS_DRIFT_FAR_PRODUCTS_RISE")
    if (
        recent.far_products_share is not None
        and baseline.far_products_share is not None
        and recent.far_products_share > baseline.far_products_share + far_rise
    ):
        flags.append(
            DriftFlag("far", recent.far_products_share, baseline.far_products_share, "first weeks", FAR_MESSAGE)
        )
    return flags


DISTANCE_MESSAGE = (
    "Shoppers' photos are getting farther from your catalog. Shoppers may be looking for kinds of "
    "products you do not list, or their photos changed (a new phone camera or app, other light). "
    "Check the top failed searches, and run a self-test: if it still scores well, search works "
    "and shoppers want something new."
)
NO_MATCH_MESSAGE = (
    'More photo searches end with "no close match" than in the model\'s first weeks. Shoppers '
    "bring photos of things the catalog does not have, or photos search cannot read well. Look at "
    "the failed searches and consider adding shop photos of popular products."
)
FAR_MESSAGE = (
    "More of your products have nothing like them in the catalog than in the model's first weeks: "
    "new kinds of products were added. Their similar-product lists will be weak, and a model "
    "trained on other pictures may place them poorly; run a self-test."
)
