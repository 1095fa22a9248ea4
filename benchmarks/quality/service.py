"""Catalogs imported and indexed the normal way, and queries through the search service.

Needs Django set up (the benchmark's child process, or the test suite). Every query goes through
``product_search`` or ``products_similar``, as the storefront and the API call them.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.quality.datasets import FASHION, FashionItem, WordQuery
from catalog.importing.readers import read_fashion_csv, read_generic_csv
from catalog.importing.rows import ImportRow, RowFailure
from catalog.importing.runner import CatalogImporter, ImportReport
from catalog.models import Product
from search.models import EmbeddingModel, NoMatchCalibration
from search.services import keywords
from search.services.index_queue import embeddings_process_available
from search.services.model_switch import embedding_model_activate
from search.services.product_search import (
    NO_FILTERS,
    SearchQuery,
    SearchResult,
    product_filter_build,
    product_search,
    products_similar,
    query_photo_embed,
)

K = 10
WORST_SHOWN = 20  # word queries listed in a run's JSON, worst first


class BenchmarkError(RuntimeError):
    """The catalog could not be built as the benchmark needs it; the message says why."""


# --- building the catalog --------------------------------------------------------------------


@dataclass
class BuildStats:
    products: int = 0
    images: int = 0
    import_seconds: float = 0.0
    index_seconds: float = 0.0
    calibration_seconds: float = 0.0
    # The active model's last no-match calibration: the flag's threshold and the space it is in.
    no_match_threshold: float | None = None
    no_match_space: str = ""
    tune_seconds: float = 0.0  # learning the adapter and building the tuned vectors (--tune)
    gate_seconds: float = 0.0  # the gate's two self-tests (--tune)


def catalog_import(rows: Iterator[ImportRow | RowFailure], images_dir: Path, stats: BuildStats) -> ImportReport:
    start = time.perf_counter()
    report = CatalogImporter(images_dir=images_dir).run(rows)
    stats.import_seconds += time.perf_counter() - start
    if report.failures:
        first = report.failures[0]
        raise BenchmarkError(
            f"{len(report.failures)} rows failed to import, e.g. row {first.row_number}: {first.reason}"
        )
    stats.products = Product.objects.count()
    stats.images += report.images_added
    return report


def fashion_rows(limit: int | None, *, photos: bool = True) -> Iterator[ImportRow | RowFailure]:
    """The fashion-csv import's rows, the first ``limit`` that import (as datasets.fashion_items).
    ``photos=False``: the same products without their photos (word searches need only the text)."""
    rows = (row for row in read_fashion_csv(FASHION / "metadata.csv") if isinstance(row, ImportRow) and row.images)
    if not photos:
        rows = (dataclasses.replace(row, images=[]) for row in rows)
    return itertools.islice(rows, limit)


def generic_rows(path: Path) -> Iterator[ImportRow | RowFailure]:
    return read_generic_csv(path)


def index_build(preset: str, stats: BuildStats) -> EmbeddingModel:
    """Activate ``preset`` and run the index queue in this process until nothing is left."""
    start = time.perf_counter()
    embedding_model_activate(preset)
    embeddings_process_available(time_budget=7200)
    stats.index_seconds += time.perf_counter() - start
    model = EmbeddingModel.objects.filter(status="active").first()
    if model is None or model.name != preset:
        raise BenchmarkError(f"the {preset} index did not finish building (failed embeddings?)")
    return model


def index_catch_up(stats: BuildStats) -> None:
    """Embed what was added since the index was built (new images of products)."""
    start = time.perf_counter()
    embeddings_process_available(time_budget=7200)
    stats.index_seconds += time.perf_counter() - start


def no_match_calibrate_when_due(stats: BuildStats) -> None:
    """What a worker does after a build, and its periodic sweep after the catalog has grown:
    calibrate the active model's "no close match" threshold when due (the Celery task, in-process)."""
    from search.tasks import no_match_calibrate

    model = EmbeddingModel.objects.get(status="active")
    start = time.perf_counter()
    no_match_calibrate(model.pk)
    stats.calibration_seconds += time.perf_counter() - start
    calibration = NoMatchCalibration.objects.filter(model=model).first()
    if calibration is not None:
        stats.no_match_threshold, stats.no_match_space = calibration.match_threshold, calibration.match_space


# --- queries ---------------------------------------------------------------------------------


@dataclass
class Measured:
    """Figures by name, and milliseconds per query by query kind."""

    figures: dict[str, float] = field(default_factory=dict)
    latency_ms: dict[str, list[float]] = field(default_factory=dict)
    # Word queries and their precision@10, worst first (the cases to look at).
    words_worst: list[tuple[str, float]] = field(default_factory=list)

    def time(self, kind: str, milliseconds: float) -> None:
        self.latency_ms.setdefault(kind, []).append(milliseconds)


def _skus() -> dict[int, str]:
    return dict(Product.objects.values_list("pk", "sku"))


OWNER = "quality-benchmark"  # whose kept query photos these are (a session or an API key in use)


def photo_search(data: bytes, limit: int) -> SearchResult:
    """A photo search as the storefront and the API run it: the upload decoded and embedded once
    (query_photo_embed), then the search under the kept photo's token."""
    token = query_photo_embed(data, owner=OWNER)
    return product_search(SearchQuery(image_token=token, owner=OWNER, limit=limit))


def photo_recall(
    measured: Measured, name: str, queries: Sequence[tuple[bytes, str]], ks: Sequence[int], *, kind: str
) -> None:
    """Recall@k of the right product among a photo search's hits, and the share flagged as no
    close match (``SearchResult.close_match`` false)."""
    skus = _skus()
    hits_at = dict.fromkeys(ks, 0)
    flagged = 0
    for data, wanted in queries:
        start = time.perf_counter()
        result = photo_search(data, max(ks))
        measured.time(kind, (time.perf_counter() - start) * 1000)
        found = [skus.get(hit.product.pk) for hit in result.hits]
        flagged += not result.close_match
        for k in ks:
            hits_at[k] += wanted in found[:k]
    for k in ks:
        measured.figures[f"{name} R@{k}"] = hits_at[k] / max(1, len(queries))
    measured.figures[f"{name} flagged"] = flagged / max(1, len(queries))


def photo_flagged(measured: Measured, name: str, photos: Sequence[bytes], *, kind: str) -> None:
    """The share of photos of products the catalog does not have that are flagged as no close match."""
    flagged = 0
    for data in photos:
        start = time.perf_counter()
        result = photo_search(data, K)
        measured.time(kind, (time.perf_counter() - start) * 1000)
        flagged += not result.close_match
    measured.figures[name] = flagged / max(1, len(photos))


def more_like_this(measured: Measured, items: Sequence[FashionItem], labels: dict[str, FashionItem]) -> None:
    """``products_similar`` precision@10: same article type; same article type and colour."""
    products = {p.sku: p for p in Product.objects.filter(sku__in=[item.sku for item in items])}
    same_type = same_both = 0
    for item in items:
        start = time.perf_counter()
        hits = products_similar(products[item.sku], limit=K)
        measured.time("more like this", (time.perf_counter() - start) * 1000)
        for hit in hits:
            other = labels.get(hit.product.sku)
            if other is not None and other.article_type == item.article_type:
                same_type += 1
                same_both += other.colour == item.colour
    measured.figures["fashion more-like-this P@10 type"] = same_type / (K * max(1, len(items)))
    measured.figures["fashion more-like-this P@10 type+colour"] = same_both / (K * max(1, len(items)))


def words_precision(
    measured: Measured, queries: Sequence[WordQuery], labels: dict[str, FashionItem], *, keyword_only: bool = False
) -> None:
    """Precision@10 of word searches (all forms, and per form): a hit is right when it carries
    every label the query names. ``keyword_only``: the keyword leg alone (Postgres full-text)."""
    skus = _skus()
    product_filter = product_filter_build(NO_FILTERS)
    right: dict[str, int] = {}
    asked: dict[str, int] = {}
    each: list[tuple[str, float]] = []
    for query in queries:
        start = time.perf_counter()
        if keyword_only:
            found = keywords.keyword_search(keywords.query_words(query.text), product_filter, limit=K)
            found_skus = [skus.get(hit.product_id) for hit in found.hits]
        else:
            result = product_search(SearchQuery(text=query.text, limit=K))
            found_skus = [skus.get(hit.product.pk) for hit in result.hits]
        measured.time("words (full-text alone)" if keyword_only else "words", (time.perf_counter() - start) * 1000)
        good = sum(1 for sku in found_skus[:K] if sku in labels and query.matches(labels[sku]))
        each.append((query.text, good / K))
        for form in (query.form, "all"):
            right[form] = right.get(form, 0) + good
            asked[form] = asked.get(form, 0) + 1
    for form in asked:
        suffix = "" if form == "all" else f" ({form})"
        measured.figures[f"fashion words P@10{suffix}"] = right[form] / (K * asked[form])
    measured.words_worst = sorted(each, key=lambda pair: pair[1])[:WORST_SHOWN]


# --- tuning ----------------------------------------------------------------------------------


def model_tune_build(stats: BuildStats, *, gate_sample: int, steps: int | None = None) -> dict[str, object]:
    """Tune the active model to the catalog as a merchant does (``search_model tune``: an adapter
    learned from the products' photos, catalog and search-only shop photos, stored in the
    database), build the tuned candidate in-process, run its gate (the self-tests of the active
    model and the candidate on ``gate_sample`` photos, side by side) and make it active: by the
    gate when it is better, else explicitly, as the merchant's "Activate" button does, so that
    the figures measured after this are the tuned model's. Returns what was learned and decided."""
    from django.test import override_settings

    from search.services.model_switch import candidate_gate_request
    from search.services.tuning import TuneOptions, model_tune

    start = time.perf_counter()
    adapter = model_tune(options=TuneOptions(steps=steps) if steps else None)
    embeddings_process_available(time_budget=7200)
    model = EmbeddingModel.objects.get(name=adapter.model_name)
    stats.tune_seconds = time.perf_counter() - start
    if model.status == EmbeddingModel.Status.WAITING and model.gated:
        with override_settings(SNAPSHELF_INSIGHTS_SELF_TEST_SAMPLE=gate_sample):
            candidate_gate_request(model, inline=True)
        model.refresh_from_db()
    stats.gate_seconds = time.perf_counter() - start - stats.tune_seconds
    activated_by = "gate" if model.status == EmbeddingModel.Status.ACTIVE else "benchmark"
    if activated_by == "benchmark":
        embedding_model_activate(model.name, note="Activated by the quality benchmark.")
        embeddings_process_available(time_budget=7200)
    model.refresh_from_db()
    if model.status != EmbeddingModel.Status.ACTIVE:
        raise BenchmarkError(f"the tuned model {model.name} did not become active ({model.status})")
    return {"model": model.name, "training": adapter.training, "gate": model.gate_verdict, "activated_by": activated_by}


def search_only_images_delete() -> int:
    """Take the shop photos (search-only images) out of the catalog again, as a merchant deletes
    them in the admin (their vectors go with them)."""
    from catalog.models import ProductImage

    _, per_model = ProductImage.objects.filter(search_only=True).delete()
    return per_model.get(ProductImage._meta.label, 0)
