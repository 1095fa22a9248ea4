"""One data set through the service: catalog imported and indexed, queries asked, baselines.

``fashion_run``, ``grocery_run`` and ``words_run`` (the fashion words figures alone, without
photos) need Django set up and an empty catalog. Run as a module, this
is the benchmark's child process: its own throwaway Postgres and Redis (config.settings.test),
one data set, the figures written as JSON.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from benchmarks.quality import baselines
from benchmarks.quality.datasets import (
    FASHION,
    GROCERY,
    FashionItem,
    GroceryPhoto,
    Options,
    fashion_items,
    fashion_sample,
    grocery_csv_write,
    grocery_photos,
    shopper_seed,
    word_queries,
)
from search.shopper_photos import shopper_photo

if TYPE_CHECKING:
    from benchmarks.quality import service as service_module

GROCERY_KS = (1, 5)
FASHION_KS = (1, 3, 10)


def shopper_copies(items: list[FashionItem]) -> list[tuple[Image.Image, str]]:
    """Each product's shopper-like copy, seeded by the product."""
    copies = []
    for item in items:
        with Image.open(item.image) as catalog_photo:
            copies.append((shopper_photo(catalog_photo, seed=shopper_seed(item)), item.sku))
    return copies


def uploads(photos: list[tuple[Image.Image, str]] | list[GroceryPhoto]) -> list[tuple[bytes, str]]:
    """The photos as a shopper uploads them: a file's bytes, or a made photo saved losslessly
    (the shopper-like copy's own JPEG artefacts stay as they are)."""
    out = []
    for photo in photos:
        if isinstance(photo, GroceryPhoto):
            out.append((photo.image.read_bytes(), photo.sku))
        else:
            buffer = io.BytesIO()
            photo[0].save(buffer, format="PNG")
            out.append((buffer.getvalue(), photo[1]))
    return out


def _spread(photos: list[GroceryPhoto], count: int) -> list[GroceryPhoto]:
    """``count`` photos spread evenly over the list (which runs product by product)."""
    if count >= len(photos):
        return photos
    return [photos[int(i * len(photos) / count)] for i in range(count)]


def fashion_run(options: Options) -> dict[str, object]:
    from benchmarks.quality import service

    stats = service.BuildStats()
    items = fashion_items(options.fashion_limit)
    labels = {item.sku: item for item in items}
    service.catalog_import(service.fashion_rows(options.fashion_limit), Path(items[0].image).parent.parent, stats)
    service.index_build(options.preset, stats)
    service.no_match_calibrate_when_due(stats)
    measured = service.Measured()
    service.more_like_this(measured, fashion_sample(items, options.more_like_this, salt="similar"), labels)
    shoppers = uploads(shopper_copies(fashion_sample(items, options.shopper, salt="shopper")))
    service.photo_recall(measured, "fashion shopper", shoppers, FASHION_KS, kind="photo (fashion)")
    queries = word_queries(items, options.words)
    service.words_precision(measured, queries, labels)
    keyword_only = service.Measured()
    service.words_precision(keyword_only, queries, labels, keyword_only=True)
    others = [data for data, _ in uploads(_spread(grocery_photos(options.split), options.rejection))]
    service.photo_flagged(measured, "fashion catalog: grocery photos flagged", others, kind="photo (fashion)")
    result: dict[str, object] = {
        "service": measured.figures,
        "full-text alone": {name: value for name, value in keyword_only.figures.items()},
        "latency_ms": {**_percentiles(measured.latency_ms), **_percentiles(keyword_only.latency_ms)},
        "build": vars(stats),
        "queries": {"shopper": len(shoppers), "more like this": options.more_like_this, "words": len(queries)},
        "words worst": {"service": measured.words_worst, "full-text alone": keyword_only.words_worst},
    }
    if options.baselines:
        result.update(fashion_baselines(items, shoppers, fashion_sample(items, options.more_like_this, salt="similar")))
    return result


def words_run(options: Options) -> dict[str, object]:
    """The fashion words figures alone, cheaply: the fashion products imported without their
    photos (word searches read the keyword documents and the text vectors, no image vector),
    the same queries as fashion_run, through the service and through full-text alone."""
    from benchmarks.quality import service

    stats = service.BuildStats()
    items = fashion_items(options.fashion_limit)
    labels = {item.sku: item for item in items}
    service.catalog_import(service.fashion_rows(options.fashion_limit, photos=False), FASHION, stats)
    service.index_build(options.preset, stats)
    queries = word_queries(items, options.words)
    measured, keyword_only = service.Measured(), service.Measured()
    service.words_precision(measured, queries, labels)
    service.words_precision(keyword_only, queries, labels, keyword_only=True)
    return {
        "service": measured.figures,
        "full-text alone": keyword_only.figures,
        "latency_ms": {**_percentiles(measured.latency_ms), **_percentiles(keyword_only.latency_ms)},
        "build": vars(stats),
        "queries": {"words": len(queries)},
        "words worst": {"service": measured.words_worst, "full-text alone": keyword_only.words_worst},
    }


def grocery_run(options: Options) -> dict[str, object]:
    from benchmarks.quality import service

    stats = service.BuildStats()
    folder = Path(tempfile.mkdtemp(prefix="quality-grocery-"))
    service.catalog_import(service.generic_rows(grocery_csv_write(folder)), GROCERY, stats)
    service.index_build(options.preset, stats)
    service.no_match_calibrate_when_due(stats)
    measured = service.Measured()
    photos = grocery_photos(options.split)
    queries = uploads(_spread(photos, options.grocery_queries or len(photos)))
    split = options.split
    service.photo_recall(measured, f"grocery {split} one photo", queries, GROCERY_KS, kind="photo (grocery)")
    fashion = fashion_sample(fashion_items(), options.rejection, salt="rejection")
    shoppers = [data for data, _ in uploads(shopper_copies(fashion))]
    service.photo_flagged(measured, "grocery catalog: fashion photos flagged", shoppers, kind="photo (grocery)")
    # The same products' own photos as the data set has them (studio shots on white), beside the
    # shopper-like copies above (the goal's row: on busy backgrounds like the calibration's copies).
    as_shot = [item.image.read_bytes() for item in fashion]
    service.photo_flagged(measured, "grocery catalog: fashion photos as shot flagged", as_shot, kind="photo (grocery)")
    train = grocery_photos("train", per_product=options.train_per_product)
    service.catalog_import(service.generic_rows(grocery_csv_write(folder, train_photos=train)), GROCERY, stats)
    service.index_catch_up(stats)
    service.no_match_calibrate_when_due(stats)
    service.photo_recall(measured, f"grocery {split} with train photos", queries, GROCERY_KS, kind="photo (grocery)")
    # The same fashion photos once the shop has its own shop photos (the calibration's real positives).
    name = "grocery catalog with train photos: fashion photos flagged"
    service.photo_flagged(measured, name, shoppers, kind="photo (grocery)")
    tuned = grocery_tuned(options, measured, queries, shoppers, stats) if options.tune else None
    result: dict[str, object] = {
        "service": measured.figures,
        "latency_ms": _percentiles(measured.latency_ms),
        "build": vars(stats),
        "queries": {"grocery": len(queries), "train photos": len(train)},
    }
    if tuned is not None:
        result["tuned"] = tuned
    if options.baselines:
        result.update(grocery_baselines(queries, train, split))
    return result


def grocery_tuned(
    options: Options,
    measured: service_module.Measured,
    queries: list[tuple[bytes, str]],
    shoppers: list[bytes],
    stats: service_module.BuildStats,
) -> dict[str, object]:
    """The model tuned to the grocery shop on the train split's shop photos (the search-only
    images just added; never the val or test photos), its gate, then the same queries and the same
    fashion photos: with the train photos still in the catalog, and after they are deleted again
    (one catalog photo per product)."""
    from benchmarks.quality import service

    tuned = service.model_tune_build(stats, gate_sample=options.tune_gate_sample)
    service.no_match_calibrate_when_due(stats)
    split, kind = options.split, "photo (grocery, tuned)"
    service.photo_recall(measured, f"grocery {split} with train photos (tuned)", queries, GROCERY_KS, kind=kind)
    name = "grocery catalog with train photos (tuned): fashion photos flagged"
    service.photo_flagged(measured, name, shoppers, kind=kind)
    tuned["search-only images deleted"] = service.search_only_images_delete()
    service.no_match_calibrate_when_due(stats)  # the worker's sweep: the index shrank
    service.photo_recall(measured, f"grocery {split} one photo (tuned)", queries, GROCERY_KS, kind=kind)
    service.photo_flagged(measured, "grocery catalog (tuned): fashion photos flagged", shoppers, kind=kind)
    return tuned


def _percentiles(latency_ms: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {
        kind: {"p50": float(np.percentile(times, 50)), "p95": float(np.percentile(times, 95)), "n": len(times)}
        for kind, times in latency_ms.items()
    }


# --- baselines -------------------------------------------------------------------------------


def fashion_baselines(
    items: list[FashionItem], shoppers: list[tuple[bytes, str]], similar: list[FashionItem]
) -> dict[str, dict[str, float]]:
    owners = [item.sku for item in items]
    labels = {item.sku: item for item in items}
    out = {}
    for name, (describe, compare) in baselines.BASELINES.items():
        gallery = np.stack([_describe_file(describe, item.image) for item in items])
        figures: dict[str, float] = {}
        for k, value in _baseline_recall(describe, compare, gallery, owners, shoppers, FASHION_KS).items():
            figures[f"fashion shopper R@{k}"] = value
        index = {sku: i for i, sku in enumerate(owners)}
        same_type = same_both = 0
        for item in similar:
            ranked = baselines.products_ranked(compare(gallery[index[item.sku]], gallery), owners, exclude={item.sku})
            for sku in ranked[:10]:
                if labels[sku].article_type == item.article_type:
                    same_type += 1
                    same_both += labels[sku].colour == item.colour
        figures["fashion more-like-this P@10 type"] = same_type / (10 * max(1, len(similar)))
        figures["fashion more-like-this P@10 type+colour"] = same_both / (10 * max(1, len(similar)))
        out[name] = figures
    return out


def grocery_baselines(
    queries: list[tuple[bytes, str]], train: list[GroceryPhoto], split: str
) -> dict[str, dict[str, float]]:
    from benchmarks.quality.datasets import grocery_catalog_photos

    catalog = grocery_catalog_photos()
    out = {}
    for name, (describe, compare) in baselines.BASELINES.items():
        figures: dict[str, float] = {}
        for label, gallery_photos in (("one photo", catalog), ("with train photos", catalog + train)):
            gallery = np.stack([_describe_file(describe, photo.image) for photo in gallery_photos])
            owners = [photo.sku for photo in gallery_photos]
            for k, value in _baseline_recall(describe, compare, gallery, owners, queries, GROCERY_KS).items():
                figures[f"grocery {split} {label} R@{k}"] = value
        out[name] = figures
    return out


def _baseline_recall(
    describe: baselines.Describe,
    compare: baselines.Compare,
    gallery: np.ndarray,
    owners: list[str],
    queries: list[tuple[bytes, str]],
    ks: tuple[int, ...],
) -> dict[int, float]:
    """Recall@k of the right product, products ranked by their most similar gallery image."""
    hits = dict.fromkeys(ks, 0)
    for data, wanted in queries:
        ranked = baselines.products_ranked(compare(_describe_upload(describe, data), gallery), owners)
        for k in ks:
            hits[k] += wanted in ranked[:k]
    return {k: hits[k] / max(1, len(queries)) for k in ks}


def _describe_upload(describe: baselines.Describe, data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return describe(image.convert("RGB"))


def _describe_file(describe: baselines.Describe, path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return describe(image.convert("RGB"))


RUNS = {"fashion": fashion_run, "grocery": grocery_run, "words": words_run}


def main() -> None:
    import argparse
    import json

    parser = argparse.ArgumentParser(description="One data set of the quality benchmark (a child process).")
    parser.add_argument("--set", choices=sorted(RUNS), required=True)
    parser.add_argument("--options", required=True, help="Options as JSON")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    options = Options(**json.loads(args.options))
    result = RUNS[args.set](options)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
