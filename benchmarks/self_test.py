"""The self-test (insights) on the grocery and fashion catalogs, on throwaway embedded servers.

    nice -n 10 python -m benchmarks.self_test [--fashion 2000] [--sample 200] [--seed 0]

Each catalog is imported into a fresh database through the catalog services (grocery: its 81
products with their catalog photo, title, description and "top > coarse" category; fashion: the
first ``--fashion`` products through the importer), embedded with the offline preset, and then
``insights.services.self_test`` searches shopper-like copies of ``--sample`` catalog photos through
the search service, exactly as ``manage.py search_eval`` does. Prints one table per catalog and
the JSON of each run. Uses config.settings.test: never .data/.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django

django.setup()

from django.core.cache import cache  # noqa: E402
from django.core.management import call_command  # noqa: E402

from catalog.importing.readers import read_fashion_csv  # noqa: E402
from catalog.importing.runner import CatalogImporter  # noqa: E402
from catalog.services import category_get_or_create_path, product_image_add, product_upsert  # noqa: E402
from insights.models import SelfTestRun  # noqa: E402
from insights.services.self_test import self_test_create, self_test_run  # noqa: E402
from search.models import EmbeddingModel  # noqa: E402
from search.services.index_queue import embeddings_process_available  # noqa: E402
from search.services.keywords import vocabulary_rebuild  # noqa: E402
from search.services.model_switch import embedding_model_activate  # noqa: E402
from search.services.no_match import no_match_calibration_refresh  # noqa: E402
from tests.search.search_fixtures import catalog_delete  # noqa: E402

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def grocery_load(datasets: Path) -> int:
    folder = datasets / "grocery"
    with open(folder / "classes_with_text.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        category = category_get_or_create_path(f"{row['top_category']} > {row['coarse_class_name']}")
        title = row["product_title"] or row["class_name"].replace("-", " ")
        product, _ = product_upsert(
            sku=f"GROCERY-{row['class_id']}", title=title, description=row["description"], category=category
        )
        product_image_add(product=product, data=(folder / row["iconic_image"]).read_bytes())
    return len(rows)


def fashion_load(datasets: Path, count: int) -> int:
    folder = datasets / "fashion"
    report = CatalogImporter(images_dir=folder).run(itertools.islice(read_fashion_csv(folder / "metadata.csv"), count))
    return report.created


def index_and_test(name: str, sample: int, seed: int) -> SelfTestRun:
    start = time.perf_counter()
    vocabulary_rebuild()
    embedding_model_activate("offline")
    embeddings_process_available(time_budget=7200)
    print(f"  {name}: embedded with the offline preset in {time.perf_counter() - start:.0f} s")
    # A worker calibrates "no close match" after a switch; here it is done in this process.
    calibration = no_match_calibration_refresh(EmbeddingModel.objects.get(status="active").pk, force=True)
    threshold = calibration.match_threshold if calibration else None
    print(f"  {name}: no-close-match threshold {threshold} ({calibration.match_space if calibration else ''})")
    start = time.perf_counter()
    run = self_test_run(self_test_create(sample=sample, seed=seed))
    seconds = time.perf_counter() - start
    each = seconds / max(1, run.queries)
    print(f"  {name}: self-test of {run.queries} photos in {seconds:.0f} s ({each:.2f} s each)")
    return run


def table(name: str, run: SelfTestRun) -> None:
    print(f"\n{name}: {run.queries} shopper-like copies, catalog of {run.catalog_size} products, seed {run.seed}")
    print(f"{'category':24} {'photos':>6} {'R@1':>6} {'R@10':>6} {'no match':>9}")
    overall = {"category": "all", "queries": run.queries, "recall_at_1": run.recall_at_1,
               "recall_at_10": run.recall_at_10, "no_match_share": run.no_match_share}  # fmt: skip
    for row in [*run.per_category, overall]:
        print(f"{row['category'][:24]:24} {row['queries']:>6} {row['recall_at_1']:>6.2f} "
              f"{row['recall_at_10']:>6.2f} {row['no_match_share']:>9.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fashion", type=int, default=2000, help="fashion products to import (0: skip)")
    parser.add_argument("--sample", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--datasets", type=Path, default=DATASETS, help="default: ../shared/datasets")
    args = parser.parse_args()
    if not args.datasets.is_dir():
        sys.exit(f"the data sets are not at {args.datasets} (../shared/datasets beside the checkout)")
    call_command("migrate", verbosity=0)
    results = {}
    cache.clear()
    print(f"grocery: {grocery_load(args.datasets)} products")
    results["grocery"] = index_and_test("grocery", args.sample, args.seed)
    table("grocery", results["grocery"])
    catalog_delete()
    if args.fashion:
        print(f"fashion: {fashion_load(args.datasets, args.fashion)} products")
        results["fashion"] = index_and_test("fashion", args.sample, args.seed)
        table("fashion", results["fashion"])
    keys = ["model_name", "catalog_size", "queries", "seed", "recall_at_1", "recall_at_10", "no_match_share"]
    print(json.dumps({name: {k: getattr(run, k) for k in keys} for name, run in results.items()}, indent=1))


if __name__ == "__main__":
    main()
