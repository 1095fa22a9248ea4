"""The self-test: how well search finds the shop's own products from shopper-like photos.

A sample of catalog photos (one per product, drawn with the run's seed) is turned into
shopper-like copies (search.shopper_photos: crop, tilt, light, blur, busy background, JPEG) and
each copy is searched through the search service, as the storefront would. Recall@1 and @10
say how often the product comes first or within ten; the no-close-match share how often search
says nothing looks close. A run can test a model that is still being built (its vectors so far),
so a candidate can be compared with the active model before it takes over.

The tuning gate runs it on other photos when it can (``held_out``): real shop photos that a
tuned model was not trained on (search.services.tuning.tuned_model_held_out), asked as they
are, against the catalog photos alone: no search-only shop photo counts as a catalog image
while the run searches (``_shop_photos``).
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from PIL import Image

from catalog.image_intake import product_image_rgb_or_none
from catalog.models import Category, Product, ProductImage
from catalog.selectors import categories_by_id
from insights.conf import insights_setting
from insights.models import SelfTestRun
from search.models import EmbeddingModel, EmbeddingStatus, ImageEmbedding
from search.services.model_switch import embedding_model_active
from search.services.product_search import SearchError, SearchQuery, product_search
from search.shopper_photos import shopper_photo

logger = logging.getLogger(__name__)
NO_CATEGORY = "(no category)"


class SelfTestError(ValueError):
    """The self-test cannot run; the message says why."""


def self_test_queue(*, model: EmbeddingModel | None = None, sample: int | None = None, seed: int = 0) -> SelfTestRun:
    """A queued run for ``model`` (default: the active one); the task is sent after commit."""
    from insights.tasks import self_test_execute

    run = self_test_create(model=model, sample=sample, seed=seed)
    transaction.on_commit(lambda: self_test_execute.delay(run.pk))
    return run


def self_test_create(
    *, model: EmbeddingModel | None = None, sample: int | None = None, seed: int = 0, held_out: Sequence[int] = ()
) -> SelfTestRun:
    """A queued run; ``held_out``: ask these shop photos (a sample of them) instead of copies of
    catalog photos, with none of them counted as catalog images during the run."""
    model = model or embedding_model_active()
    if model is None:
        raise SelfTestError("There is no search model yet: import products and let the index build first.")
    if model.status == EmbeddingModel.Status.RETIRED:
        raise SelfTestError(f"{model.name} is retired; only the active model and one being built can be tested.")
    size = insights_setting("INSIGHTS_SELF_TEST_SAMPLE") if sample is None else sample
    if not 1 <= size <= 5000:
        raise SelfTestError("The sample must be between 1 and 5000 photos.")
    source = SelfTestRun.Source.HELD_OUT if held_out else SelfTestRun.Source.COPIES
    return SelfTestRun.objects.create(
        model=model, model_name=model.name, sample_size=size, seed=seed, source=source,
        held_out_images=sorted(held_out),
    )  # fmt: skip


def self_test_execute(run_id: int) -> SelfTestRun | None:
    """Run a queued run; a run already taken by another worker (or finished) is left alone."""
    with transaction.atomic():
        run = SelfTestRun.objects.select_for_update(skip_locked=True).filter(pk=run_id).first()
        if run is None or run.status != SelfTestRun.Status.QUEUED:
            return None
        run.status = SelfTestRun.Status.RUNNING
        run.save(update_fields=["status"])
    try:
        return self_test_run(run)
    except Exception as exc:
        logger.exception("self-test %s failed", run.pk)
        run.status, run.error, run.finished_at = SelfTestRun.Status.FAILED, str(exc)[:2000], timezone.now()
        run.save(update_fields=["status", "error", "finished_at"])
        return run


@dataclass
class _Tally:
    queries: int = 0
    first: int = 0
    top10: int = 0
    no_match: int = 0

    def add(self, rank: int | None, close: bool) -> None:
        self.queries += 1
        self.first += rank == 1
        self.top10 += rank is not None and rank <= 10
        self.no_match += not close

    def figures(self) -> dict[str, float | int | None]:
        n = self.queries
        return {
            "queries": n,
            "recall_at_1": self.first / n if n else None,
            "recall_at_10": self.top10 / n if n else None,
            "no_match_share": self.no_match / n if n else None,
        }


def self_test_run(run: SelfTestRun) -> SelfTestRun:
    """Search each sampled photo (a catalog photo's shopper-like copy, or a held-out shop photo
    as it is); store the figures on ``run``."""
    model = run.model
    run.catalog_size = Product.objects.filter(is_active=True).count()
    held_out = run.source == SelfTestRun.Source.HELD_OUT
    sample = _held_out_sample(run) if held_out else _sample(model, run.sample_size, run.seed)
    if not sample and held_out:
        raise SelfTestError(f"None of the held-out shop photos is left to test {model.name} on.")
    if not sample:
        raise SelfTestError(f"{model.name} has no catalog photo indexed yet.")
    excluded = _shop_photos() if held_out else frozenset()
    overall, per_category = _Tally(), defaultdict[str, _Tally](_Tally)
    tree = categories_by_id()
    for i, image in enumerate(sample):
        photo = product_image_rgb_or_none(image, purpose="self-test")
        if photo is None:
            continue
        query = photo if held_out else shopper_photo(photo, seed=run.seed * 1_000_003 + i)
        rank, close = _search(query, image.product_id, model, excluded)
        overall.add(rank, close)
        per_category[_top_category(image.product.category_id, tree)].add(rank, close)
    figures = overall.figures()
    run.queries = int(figures["queries"] or 0)
    run.recall_at_1, run.recall_at_10, run.no_match_share = (
        figures["recall_at_1"], figures["recall_at_10"], figures["no_match_share"],
    )  # fmt: skip
    run.per_category = [{"category": name, **tally.figures()} for name, tally in sorted(per_category.items())]
    run.status, run.finished_at = SelfTestRun.Status.DONE, timezone.now()
    run.save()
    return run


def _sample(model: EmbeddingModel, size: int, seed: int) -> list[ProductImage]:
    """One indexed catalog photo (the first shown one; not a search-only shop photo) per product,
    for ``size`` products drawn with ``seed``."""
    indexed = (
        ImageEmbedding.objects.filter(
            model=model, status=EmbeddingStatus.READY, product__is_active=True, image__search_only=False
        )
        .order_by("product_id", "image__position", "image_id")
        .distinct("product_id")
        .values_list("image_id", flat=True)
    )
    image_ids = sorted(indexed)
    chosen = random.Random(seed).sample(image_ids, min(size, len(image_ids)))
    images = ProductImage.objects.select_related("product").in_bulk(chosen)
    return [images[pk] for pk in chosen if pk in images]


def _shop_photos() -> frozenset[int]:
    """Every search-only shop photo: none counts as a catalog image while held-out photos are
    asked. A shop's photos of a product are often taken in one go, so the ones kept for training
    are near copies of the held-out ones, and with them in the catalog any model finds nearly every
    held-out photo (grocery: recall@1 0.96 frozen and tuned alike, while on val photos taken another
    day the tuned model found 0.67 against 0.37). Against the catalog photos alone the two differ
    as they do for shoppers (docs/adr/0012-tuned-models-and-the-gate.md)."""
    return frozenset(ProductImage.objects.filter(search_only=True).values_list("pk", flat=True))


def _held_out_sample(run: SelfTestRun) -> list[ProductImage]:
    """Up to ``sample_size`` of the run's held-out shop photos that are still search-only photos
    of active products, drawn with the run's seed."""
    left = ProductImage.objects.filter(pk__in=run.held_out_images, search_only=True, product__is_active=True)
    image_ids = sorted(left.values_list("pk", flat=True))
    chosen = random.Random(run.seed).sample(image_ids, min(run.sample_size, len(image_ids)))
    images = ProductImage.objects.select_related("product").in_bulk(chosen)
    return [images[pk] for pk in chosen if pk in images]


def _search(
    photo: Image.Image, product_id: int, model: EmbeddingModel, excluded: frozenset[int]
) -> tuple[int | None, bool]:
    """The product's rank in the first ten results (None when absent), and whether search called
    it close; ``excluded`` images do not count as catalog images."""
    try:
        result = product_search(SearchQuery(image=photo, limit=10, images_excluded=excluded), model=model)
    except SearchError as exc:
        raise SelfTestError(str(exc)) from exc
    ids = [hit.product.pk for hit in result.hits]
    return (ids.index(product_id) + 1 if product_id in ids else None), result.close_match


def _top_category(category_id: int | None, tree: dict[int, Category]) -> str:
    node = tree.get(category_id) if category_id is not None else None
    if node is None:
        return NO_CATEGORY
    while node.parent_id is not None and node.parent_id in tree:
        node = tree[node.parent_id]
    return node.name


def self_tests_latest(models: list[EmbeddingModel]) -> dict[int, SelfTestRun]:
    """The latest finished run of each model, by model id (for the side-by-side comparison)."""
    runs = (
        SelfTestRun.objects.filter(model__in=models, status=SelfTestRun.Status.DONE)
        .order_by("model_id", "-created_at")
        .distinct("model_id")
    )
    return {run.model_id: run for run in runs}
