"""The drift watch on real photos: grocery shop photos, then fashion photos mixed in, on throwaway servers.

    nice -n 10 python -m benchmarks.drift [--baseline-per-day 8] [--recent-per-day 12]
        [--shares 0.1,0.3,0.6] [--foreign shopper,as-shot] [--quiet-runs 2] [--catalog-shift 40] [--seed 0]

The grocery shop's 81 products (one catalog photo each) are imported through the catalog
importer into a fresh database (config.settings.test: never .data/), embedded with the offline
preset, and "no close match" is calibrated in-process as a worker does after a switch. Shoppers'
photos are then searched through the store API (POST /api/v1/search/ with a key, multipart
upload), so that each search is recorded by the insights app exactly as in production; the
recorded searches are then moved onto past days (``created_at``, with the ORM) and the model's
activation onto the first of them. For each day ``drift_days_update(today=day)`` runs as the
hourly beat task would on that day, and ``drift_report`` compares the last
INSIGHTS_DRIFT_RECENT_DAYS days with the model's first INSIGHTS_DRIFT_BASELINE_DAYS days.

- Baseline (the model's first 14 days): real grocery shop photos of the VAL split, shuffled with
  the seed. The test split is never read.
- Recent 7 days, one scenario at a time (the recent searches and drift days are deleted between
  scenarios; the baseline stays):
  - no drift: other val photos, none of them in the baseline (``--quiet-runs`` disjoint draws);
  - a shift: fashion photos (products the shop does not sell) at each of ``--shares`` of the
    recent searches, the rest val photos; ``shopper`` = shopper-like copies of the fashion
    photos (search.shopper_photos, busy backgrounds as a phone photo), ``as-shot`` = the data
    set's studio photos on white as they are;
  - ``--catalog-shift N``: last, N fashion products are added to the catalog (embedded and
    calibrated again, as a worker would) and the first no-drift draw is searched again: the
    far-off products figure.

Prints each scenario's figures, the flags drift_report raises and what each figure was for the
grocery and the fashion photos apart, then everything as JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import median

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django

django.setup()

from django.core.cache import cache  # noqa: E402
from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from benchmarks.quality import service  # noqa: E402
from benchmarks.quality.datasets import (  # noqa: E402
    FASHION,
    GROCERY,
    datasets_missing,
    fashion_items,
    fashion_sample,
    grocery_csv_write,
    grocery_photos,
)
from benchmarks.quality.run_set import shopper_copies, uploads  # noqa: E402
from insights.conf import insights_setting  # noqa: E402
from insights.models import DriftDay, SearchEvent  # noqa: E402
from insights.services.drift import DriftReport, Window, drift_days_update, drift_report  # noqa: E402
from search.models import EmbeddingModel, NoMatchCalibration  # noqa: E402
from storeapi.services.api_keys import api_key_create  # noqa: E402
from storeapi.services.search import search_id_read  # noqa: E402

SEARCH_URL = "/api/v1/search/"


@dataclass(frozen=True)
class Photo:
    data: bytes
    name: str
    source: str  # "grocery val", "fashion shopper", "fashion as-shot"


class Shop:
    """The grocery shop's API client and its model, on a timeline whose last day is today."""

    def __init__(self, model: EmbeddingModel) -> None:
        self.model = model
        _, key = api_key_create(name="drift benchmark", kind="read", throttle_rate="100000/min")
        self.client = APIClient(SERVER_NAME="localhost")
        self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        self.today = timezone.localdate()
        recent_days = insights_setting("INSIGHTS_DRIFT_RECENT_DAYS")
        self.recent = [self.today - dt.timedelta(days=n) for n in reversed(range(recent_days))]
        baseline_days = insights_setting("INSIGHTS_DRIFT_BASELINE_DAYS")
        first = self.recent[0] - dt.timedelta(days=baseline_days + 14)  # two quiet weeks between
        self.baseline = [first + dt.timedelta(days=n) for n in range(baseline_days)]
        # The model has been in use since the first baseline day.
        started = timezone.make_aware(dt.datetime.combine(first, dt.time(8)))
        EmbeddingModel.objects.filter(pk=model.pk).update(activated_at=started)
        self.searched_seconds = 0.0
        self.searches = 0

    def search(self, photo: Photo) -> int:
        """One photo search through the API; returns the id it was recorded under."""
        kind = "image/png" if photo.name.endswith(".png") else "image/jpeg"
        upload = SimpleUploadedFile(photo.name, photo.data, content_type=kind)
        start = time.perf_counter()
        response = self.client.post(SEARCH_URL, {"image": upload, "limit": 10}, format="multipart")
        self.searched_seconds += time.perf_counter() - start
        self.searches += 1
        if response.status_code != 200:
            raise SystemExit(f"the search of {photo.name} answered {response.status_code}: {response.content[:300]!r}")
        search_id = response.json()["search_id"]
        if not search_id:
            raise SystemExit("the search was not recorded (is the insights app installed?)")
        return search_id_read(search_id)

    def days_search(self, days: list[dt.date], photos: list[Photo]) -> dict[int, Photo]:
        """The photos searched, spread evenly over ``days`` in order, each moved onto its day."""
        recorded: dict[int, Photo] = {}
        for index, day in enumerate(days):
            todays = photos[index * len(photos) // len(days) : (index + 1) * len(photos) // len(days)]
            ids = [self.search(photo) for photo in todays]
            noon = timezone.make_aware(dt.datetime.combine(day, dt.time(12)))
            SearchEvent.objects.filter(pk__in=ids).update(created_at=noon)
            recorded.update(zip(ids, todays, strict=True))
        return recorded

    def days_update(self, days: list[dt.date]) -> None:
        """What the hourly beat task (insights.tasks.drift_update) computes on each of these days."""
        for day in days:
            drift_days_update(today=day)

    def recent_forget(self) -> None:
        """Remove the recent window's searches and figures (the next scenario starts clean)."""
        start = timezone.make_aware(dt.datetime.combine(self.recent[0] - dt.timedelta(days=1), dt.time.min))
        SearchEvent.objects.filter(created_at__gte=start).delete()
        DriftDay.objects.filter(day__gte=self.recent[0] - dt.timedelta(days=1)).delete()

    def report(self) -> DriftReport:
        return drift_report(EmbeddingModel.objects.get(pk=self.model.pk), today=self.today)


def by_source(recorded: dict[int, Photo]) -> dict[str, dict[str, float | int | None]]:
    """The recorded searches' figures for each kind of photo apart (what the daily figures mix)."""
    events = SearchEvent.objects.filter(pk__in=list(recorded)).values_list("pk", "best_distance", "close_match")
    groups: dict[str, list[tuple[float | None, bool]]] = {}
    for pk, distance, close in events:
        groups.setdefault(recorded[pk].source, []).append((distance, close))
    out: dict[str, dict[str, float | int | None]] = {}
    for source, rows in sorted(groups.items()):
        distances = [d for d, _ in rows if d is not None]
        out[source] = {
            "searches": len(rows),
            "distance_p50": round(median(distances), 4) if distances else None,
            "no_match_share": round(sum(not close for _, close in rows) / len(rows), 3),
        }
    return out


def window_data(window: Window) -> dict[str, float | int | None]:
    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 4)

    return {
        "days": window.days,
        "photo_searches": window.photo_searches,
        "distance_p50": rounded(window.distance_p50),
        "no_match_share": rounded(window.no_match_share),
        "far_products_share": rounded(window.far_products_share),
    }


def report_data(report: DriftReport) -> dict[str, object]:
    return {
        "baseline": window_data(report.baseline),
        "recent": window_data(report.recent),
        "calibration_p50": None if report.calibration_p50 is None else round(report.calibration_p50, 4),
        "flags": [
            {
                "figure": flag.figure,
                "now": round(flag.now, 4),
                "reference": round(flag.reference, 4),
                "against": flag.reference_name,
            }
            for flag in report.flags
        ],
    }


def _figure(value: float | int | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def scenario_print(name: str, data: dict[str, object]) -> None:
    recent, baseline = data["recent"], data["baseline"]
    assert isinstance(recent, dict) and isinstance(baseline, dict)
    flags = data["flags"]
    assert isinstance(flags, list)
    fired = ", ".join(f"{f['figure']} ({f['now']:.3f} against {f['against']} {f['reference']:.3f})" for f in flags)
    print(
        f"{name:34} {recent['photo_searches']:>5} {_figure(recent['distance_p50']):>7} "
        f"{_figure(recent['no_match_share']):>8} {_figure(recent['far_products_share']):>6}  {fired or 'none'}"
    )
    sources = data["by_source"]
    assert isinstance(sources, dict)
    for source, figures in sources.items():
        print(
            f"  {source:32} {figures['searches']:>5} {_figure(figures['distance_p50']):>7} "
            f"{_figure(figures['no_match_share']):>8}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline-per-day", type=int, default=8, help="val photo searches a day in the first weeks")
    parser.add_argument("--recent-per-day", type=int, default=12, help="photo searches a day in the recent days")
    parser.add_argument("--shares", default="0.1,0.3,0.6", help="shares of fashion photos in the recent searches")
    parser.add_argument("--foreign", default="shopper,as-shot", help="fashion photos: shopper (copies), as-shot")
    parser.add_argument("--quiet-runs", type=int, default=2, help="no-drift scenarios (disjoint val photos)")
    parser.add_argument("--catalog-shift", type=int, default=40, help="fashion products added last (0: skip)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    missing = datasets_missing()
    if missing:
        sys.exit(f"the data sets are missing: {', '.join(map(str, missing))} (set SNAPSHELF_DATASETS_DIR)")
    shares = [float(share) for share in args.shares.split(",") if share]
    kinds = [kind for kind in args.foreign.split(",") if kind]
    if any(kind not in ("shopper", "as-shot") for kind in kinds):
        sys.exit("--foreign takes shopper and/or as-shot")

    call_command("migrate", verbosity=0)
    cache.clear()
    started = time.perf_counter()
    stats = service.BuildStats()
    folder = Path(tempfile.mkdtemp(prefix="drift-grocery-"))
    service.catalog_import(service.generic_rows(grocery_csv_write(folder)), GROCERY, stats)
    model = service.index_build("offline", stats)
    service.no_match_calibrate_when_due(stats)
    calibration = NoMatchCalibration.objects.get(model=model)
    print(
        f"grocery: {stats.products} products, {stats.images} photos, embedded in {stats.index_seconds:.0f} s, "
        f"calibrated in {stats.calibration_seconds:.0f} s: match threshold {stats.no_match_threshold} "
        f"({stats.no_match_space or 'search distance'}), far distance {calibration.threshold}, "
        f"median real-match distance {calibration.positive_quantiles.get('0.5')}"
    )

    shop = Shop(model)
    rng = random.Random(args.seed)
    val = grocery_photos("val")
    rng.shuffle(val)
    val_photos = [Photo(p.image.read_bytes(), p.image.name, "grocery val") for p in val]
    baseline_count = args.baseline_per_day * len(shop.baseline)
    recent_count = args.recent_per_day * len(shop.recent)
    pool = val_photos[baseline_count:]
    if len(pool) < recent_count:
        sys.exit(f"val has {len(val_photos)} photos: too few for {baseline_count} + {recent_count} searches")
    foreign_count = max((round(share * recent_count) for share in shares), default=0)
    fashion = fashion_sample(fashion_items(), foreign_count, salt=f"drift-{args.seed}")
    foreign: dict[str, list[Photo]] = {}
    if "shopper" in kinds:
        copies = uploads(shopper_copies(fashion))
        foreign["shopper"] = [Photo(data, f"{sku}.png", "fashion shopper") for data, sku in copies]
    if "as-shot" in kinds:
        foreign["as-shot"] = [Photo(item.image.read_bytes(), item.image.name, "fashion as-shot") for item in fashion]

    print(
        f"baseline: {baseline_count} val photo searches over {shop.baseline[0]} .. {shop.baseline[-1]}; "
        f"recent: {recent_count} searches over {shop.recent[0]} .. {shop.recent[-1]}"
    )
    shop.days_search(shop.baseline, val_photos[:baseline_count])
    shop.days_update(shop.baseline)

    results: dict[str, dict[str, object]] = {}
    print(f"\n{'scenario (recent 7 days)':34} {'photo':>5} {'dist50':>7} {'no match':>8} {'far':>6}  flags")

    def scenario(name: str, photos: list[Photo]) -> None:
        shop.recent_forget()
        mixed = list(photos)
        random.Random(f"{args.seed}-{name}").shuffle(mixed)
        recorded = shop.days_search(shop.recent, mixed)
        shop.days_update(shop.recent)
        data = report_data(shop.report())
        data["by_source"] = by_source(recorded)
        results[name] = data
        scenario_print(name, data)

    first_quiet: list[Photo] = []
    for run in range(args.quiet_runs):
        draw = pool[run * recent_count : (run + 1) * recent_count]
        if len(draw) < recent_count:
            print(f"(no-drift run {run + 1}: too few val photos left for another disjoint draw)")
            break
        first_quiet = first_quiet or draw
        scenario(f"no drift {run + 1}: val photos", draw)
    for kind, photos in foreign.items():
        for share in shares:
            count = round(share * recent_count)
            scenario(f"{share:.0%} fashion {kind}", photos[:count] + pool[: recent_count - count])
    baseline_data = report_data(shop.report())["baseline"]

    if args.catalog_shift:
        service.catalog_import(service.fashion_rows(args.catalog_shift), FASHION, stats)
        service.index_catch_up(stats)
        service.no_match_calibrate_when_due(stats)
        print(
            f"\ncatalog: +{args.catalog_shift} fashion products ({stats.products} in all), calibrated again: "
            f"match threshold {stats.no_match_threshold}"
        )
        scenario(f"catalog +{args.catalog_shift} fashion products", first_quiet or pool[:recent_count])

    seconds = time.perf_counter() - started
    print(
        f"\n{shop.searches} searches through the API in {shop.searched_seconds:.0f} s "
        f"({shop.searched_seconds / max(1, shop.searches) * 1000:.0f} ms each); {seconds:.0f} s in all"
    )
    print(json.dumps({"baseline": baseline_data, "scenarios": results}, indent=1))


if __name__ == "__main__":
    main()
