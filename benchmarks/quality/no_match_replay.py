"""python -m benchmarks.quality.no_match_replay: the "no exact match" flag's inputs, recorded
through the service once, then variants of its rule replayed over them in seconds.

The quality benchmark asks each photo once; judging a change to the flag's rule (the keep share,
the calibration sample, the kind check's temperature, gate or relevance) that way costs a whole
run per variant. This builds the same two catalogs the same way (benchmarks.quality.service, a
child process per catalog with its own throwaway servers), calibrates them as a worker does, and
asks photo searches through ``product_search`` as the benchmark does, recording what the flag
reads: each photo's match distance and kind probabilities, the service's own decision, the
calibration's positives (at the default sample and at half it) and sampled catalog photos, and
the words the kind relevance is computed from (the stored product text vectors, the category
paths, the kind descriptions). The parent replays the rule: the replay of the rule as calibrated
must give the service's own decisions, photo for photo, or the run stops.

Photo sets, per catalog (``in``: the catalog has the product; ``out``: it does not):
- fashion (all 9,583 products): in, the quality benchmark's 500 shopper-like queries and 1,000
  copies of other products with other seeds (``dev``); out, the grocery val photos the benchmark
  asks and 800 train photos (``dev``).
- grocery (one photo per product): in, the val photos and 800 train photos (``dev``); out, the
  benchmark's 300 shopper-like fashion copies, the same products' photos as shot, and 600 copies
  of other fashion products (``dev``).
Choose on the ``dev`` sets; the others are the benchmark's own. The grocery test split is never read.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from benchmarks.quality.datasets import datasets_missing
from search.services.kind_relevance import as_ranks, kind_relevance, kind_relevance_to_paths, kind_relevance_to_texts

if TYPE_CHECKING:
    from search.models import EmbeddingModel

SETS: dict[str, dict[str, tuple[str, ...]]] = {
    "fashion": {
        "in": ("shopper (benchmark)", "other copies (dev)"),
        "out": ("grocery val (benchmark)", "grocery train (dev)"),
    },
    "grocery": {
        "in": ("grocery val (benchmark)", "grocery train (dev)"),
        "out": ("fashion copies (benchmark)", "fashion as shot (benchmark)", "other fashion copies (dev)"),
    },
}
DEV_COPIES = {"fashion": 1000, "grocery": 600}  # --dev-copies sets the fashion catalog's
DEV_TRAIN_PHOTOS = 800


# --- recording (the child process, Django set up) ---------------------------------------------


def record(catalog: str, out: Path, *, dev_copies: int) -> None:
    """Build ``catalog``, calibrate it, ask every photo set, and save what the flag read."""
    from search.conf import search_setting
    from search.models import EmbeddingModel

    _catalog_build(catalog)
    model = EmbeddingModel.objects.get(status="active")
    photos = _photo_sets(catalog, dev_copies=dev_copies)
    default = int(search_setting("SEARCH_NO_MATCH_SAMPLE"))
    arrays = flag_inputs_record(model, photos, sample_sizes=(default, default // 2), label=catalog)
    np.savez(out, **arrays)  # type: ignore[arg-type]  # numpy's stub reads **kwargs as allow_pickle


def flag_inputs_record(
    model: EmbeddingModel, photos: dict[str, list[bytes]], *, sample_sizes: tuple[int, ...], label: str = ""
) -> dict[str, np.ndarray]:
    """Ask each set of ``photos`` (uploads' bytes) through the service's photo search, recording
    what the flag read and decided; then the calibration's positives and sampled catalog photos
    at each of ``sample_sizes`` (the first: the calibration's own), and the words the kind
    relevance is computed from. For a catalog without search-only shop photos."""
    import search.services.no_match as no_match
    import search.services.product_search as product_search_module
    from benchmarks.quality.service import K, photo_search
    from catalog.selectors import category_paths_of_products
    from search.embedders.base import l2_normalise
    from search.embedders.offline import KIND_TEMPERATURE
    from search.models import NoMatchCalibration
    from search.vector_store import image_vectors_of_products, image_vectors_sample, text_vectors_sample

    embedder = no_match._embedder(model)
    recorded: list[tuple[float, np.ndarray, bool]] = []
    decide = product_search_module.close_match

    def close_match_recorded(model_: EmbeddingModel, vector: np.ndarray, image_ids: list[int]) -> bool:
        decision = decide(model_, vector, image_ids)
        candidates = image_ids[: no_match.MATCH_CANDIDATES]
        distance = no_match.match_distance(model_, embedder.match_vectors, vector, candidates) if candidates else np.inf
        recorded.append((distance, embedder.kind_probabilities(np.asarray(vector, np.float32)[None])[0], decision))
        return decision

    product_search_module.close_match = close_match_recorded  # type: ignore[assignment]
    arrays: dict[str, np.ndarray] = {}
    try:
        for number, (name, datas) in enumerate(photos.items()):
            recorded.clear()
            for data in datas:
                photo_search(data, K)
            arrays[f"set{number}_distance"] = np.array([r[0] for r in recorded], np.float32)
            arrays[f"set{number}_kinds"] = np.log(np.stack([r[1] for r in recorded]).clip(1e-30)).astype(np.float32)
            arrays[f"set{number}_flagged"] = np.array([not r[2] for r in recorded])
            print(f"  {label}: {name}, {len(datas)} photos", file=sys.stderr, flush=True)
    finally:
        product_search_module.close_match = decide  # type: ignore[assignment]
    for size in sample_sizes:
        sample = image_vectors_sample(model, size=size, salt=model.model_id)
        products = image_vectors_of_products(model, sorted(set(sample.product_ids)))
        copies, _ = no_match._copies_measured(model, embedder, sample, products, size=size)
        arrays[f"calibration{size}_match"] = copies.match
        arrays[f"calibration{size}_kinds"] = np.log(embedder.kind_probabilities(sample.vectors).clip(1e-30))
    texts = text_vectors_sample(model, size=no_match.KIND_TEXT_SAMPLE, salt=model.model_id)
    kinds = embedder.embed_texts(embedder.kind_descriptions())
    paths = category_paths_of_products()  # as the calibration reads them
    calibration = NoMatchCalibration.objects.get(model=model)
    arrays.update(
        kind_text_similarity=kinds @ l2_normalise(texts).T,
        kind_category_similarity=kinds @ l2_normalise(embedder.embed_texts(paths)).T,
        stored_relevance=np.array(calibration.kind_relevance, np.float32),
        stored=np.array([calibration.match_threshold, calibration.kind_threshold, calibration.kind_gate], np.float64),
        sample_default=np.array(sample_sizes[0]),
        temperature=np.array(KIND_TEMPERATURE),  # of the kind probabilities recorded
    )
    return arrays


def _catalog_build(catalog: str) -> None:
    """The catalog imported, indexed and calibrated as the quality benchmark builds it."""
    from benchmarks.quality import service
    from benchmarks.quality.datasets import GROCERY, fashion_items, grocery_csv_write

    stats = service.BuildStats()
    if catalog == "fashion":
        items = fashion_items()
        service.catalog_import(service.fashion_rows(None), Path(items[0].image).parent.parent, stats)
    else:
        folder = Path(tempfile.mkdtemp(prefix="no-match-replay-"))
        service.catalog_import(service.generic_rows(grocery_csv_write(folder)), GROCERY, stats)
    service.index_build("offline", stats)
    service.no_match_calibrate_when_due(stats)


def _photo_sets(catalog: str, *, dev_copies: int) -> dict[str, list[bytes]]:
    """The catalog's photo sets (SETS), as uploads' bytes."""
    from PIL import Image

    from benchmarks.quality.datasets import GroceryPhoto, fashion_items, fashion_sample, grocery_photos
    from benchmarks.quality.run_set import _spread as spread
    from benchmarks.quality.run_set import shopper_copies as copies
    from benchmarks.quality.run_set import uploads
    from search.shopper_photos import shopper_photo

    def data(photos: list[tuple[Image.Image, str]] | list[GroceryPhoto]) -> list[bytes]:
        return [item for item, _ in uploads(photos)]

    items = fashion_items()
    if catalog == "fashion":
        rng = random.Random("no-match-replay")
        others = []
        for item in rng.sample(items, dev_copies):
            with Image.open(item.image) as photo:
                others.append((shopper_photo(photo, seed=rng.randrange(2**40)), item.sku))
        sets = [
            data(copies(fashion_sample(items, 500, salt="shopper"))),
            data(others),
            data(spread(grocery_photos("val"), 300)),
            data(spread(grocery_photos("train"), DEV_TRAIN_PHOTOS)),
        ]
    else:
        benchmark = fashion_sample(items, 300, salt="rejection")
        sets = [
            data(spread(grocery_photos("val"), 300)),
            data(spread(grocery_photos("train"), DEV_TRAIN_PHOTOS)),
            data(copies(benchmark)),
            [item.image.read_bytes() for item in benchmark],
            data(copies(fashion_sample(items, DEV_COPIES["grocery"], salt="no-match-replay"))),
        ]
    names = [*SETS[catalog]["in"], *SETS[catalog]["out"]]
    return dict(zip(names, sets, strict=True))


# --- replaying (the parent, numpy only) -------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """A variant of the flag: what the calibration would store, and how the flag decides. The
    defaults are the service's (search/services/no_match.py, search/conf.py, the offline preset's
    KIND_TEMPERATURE)."""

    name: str
    keep_share: float = 0.995
    sample: str = "default"  # "default" or "half": the calibration's sampled photos
    temperature: float = 12.0  # the kind probabilities'
    gate_share: float = 0.5  # KIND_GATE_SHARE
    relevance: str = "texts and categories"  # or "texts", "categories"
    ranks: bool = True  # the relevance as ranks among the kinds (False: its values)
    kind_check: bool = True
    kind_share: float = 0.02  # the kind threshold's quantile of catalog photos (KIND_THRESHOLD_SHARE)


RULES = (
    Rule("as calibrated (the service's rule)"),
    Rule("match distance alone", kind_check=False),
    Rule("keep share 0.99, kind threshold at 1%", keep_share=0.99, kind_share=0.01),
    Rule("half the sample", sample="half"),
    Rule("relevance values, not ranks", ranks=False),
    Rule("relevance from texts alone", relevance="texts"),
    Rule("relevance from category paths alone", relevance="categories"),
    Rule("temperature 5", temperature=5.0),
    Rule("temperature 16", temperature=16.0),
    Rule("kind threshold at 1%", kind_share=0.01),
    Rule("gate at the 60% point", gate_share=0.6),
    Rule(
        "ADR 0013's first rule (texts' values, T 5, 1%, keep 0.99, half the sample)",
        keep_share=0.99,
        sample="half",
        temperature=5.0,
        relevance="texts",
        ranks=False,
        kind_share=0.01,
    ),
)

# --grid: every combination, judged on the dev sets only: the goals with a margin, as the
# benchmark's own sets came out harder than the dev sets (fashion: its 500 shopper-like queries).
GRID_RELEVANCE = ("texts", "categories", "texts and categories")
GRID_RANKS = (True, False)
GRID_TEMPERATURE = (5.0, 8.0, 12.0, 16.0)
GRID_KEEP_SHARE = (0.99, 0.995)
GRID_KIND_SHARE = (0.02, 0.01, 0.005)
GRID_GATE_SHARE = (0.5, 0.6, 0.7)
GRID_SAMPLE = ("default", "half")
DEV_CRITERIA = {  # catalog -> (dev set, at most or at least, share)
    "fashion": (("in: other copies (dev)", "max", 0.013), ("out: grocery train (dev)", "min", 0.91)),
    "grocery": (("in: grocery train (dev)", "max", 0.03), ("out: other fashion copies (dev)", "min", 0.93)),
}


def grid_rules() -> list[Rule]:
    grid = itertools.product(
        GRID_RELEVANCE, GRID_RANKS, GRID_TEMPERATURE, GRID_KEEP_SHARE, GRID_KIND_SHARE, GRID_GATE_SHARE, GRID_SAMPLE
    )
    return [
        Rule(
            f"relevance from {relevance} ({'ranks' if ranks else 'values'}), T {temperature:g}, keep share {keep}, "
            f"kind threshold at {kind:.1%}, gate at {gate:.0%}, sample {sample}",
            keep_share=keep,
            sample=sample,
            temperature=temperature,
            gate_share=gate,
            relevance=relevance,
            ranks=ranks,
            kind_share=kind,
        )
        for relevance, ranks, temperature, keep, kind, gate, sample in grid
    ]


def meets_dev_criteria(shares: dict[str, dict[str, float]]) -> bool:
    """Whether a rule's shares per catalog and set meet DEV_CRITERIA."""
    for catalog, criteria in DEV_CRITERIA.items():
        for name, bound, share in criteria:
            value = shares[catalog][name]
            if (bound == "max" and not value <= share) or (bound == "min" and not value >= share):
                return False
    return True


def relevance_of(recorded: dict[str, np.ndarray], rule: Rule) -> np.ndarray:
    """The kind relevance ``rule`` asks for, from the recorded similarities of the kinds to the
    product texts and category paths: with both, as ranks, the service's
    (search/services/kind_relevance.py)."""
    texts, paths = recorded["kind_text_similarity"], recorded["kind_category_similarity"]
    if rule.relevance == "texts and categories" and rule.ranks:
        return kind_relevance(texts, paths)
    values = {
        "texts": lambda: kind_relevance_to_texts(texts),
        "categories": lambda: kind_relevance_to_paths(paths),
        "texts and categories": lambda: (kind_relevance_to_texts(texts) + kind_relevance_to_paths(paths)) / 2,
    }[rule.relevance]()
    return as_ranks(values) if rule.ranks else values


def kind_scores(recorded: dict[str, np.ndarray], key: str, relevance: np.ndarray, temperature: float) -> np.ndarray:
    """The kind scores of the recorded photos ``key`` at ``temperature``: the probabilities were
    recorded at the model's, T0, and p ** (T0 / T), renormalised, is softmax(logits / T)."""
    scaled = recorded[key] * (float(recorded["temperature"]) / temperature)
    scaled -= scaled.max(axis=1, keepdims=True)
    probabilities = np.exp(scaled)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    return probabilities @ relevance


def replay(recorded: dict[str, np.ndarray], rule: Rule, sets: int) -> list[float]:
    """The share of each photo set the rule flags."""
    size = int(recorded["sample_default"]) // (2 if rule.sample == "half" else 1)
    if f"calibration{size}_match" not in recorded:
        return [float("nan")] * sets  # that sample was not recorded
    positives = recorded[f"calibration{size}_match"]
    relevance = relevance_of(recorded, rule)
    threshold = np.quantile(positives, rule.keep_share)
    gate = np.quantile(positives, rule.gate_share)
    kind_threshold = np.quantile(
        kind_scores(recorded, f"calibration{size}_kinds", relevance, rule.temperature), rule.kind_share
    )
    shares = []
    for number in range(sets):
        distance = recorded[f"set{number}_distance"]
        flagged = distance > threshold
        if rule.kind_check:
            scores = kind_scores(recorded, f"set{number}_kinds", relevance, rule.temperature)
            flagged |= (distance > gate) & (scores < kind_threshold)
        shares.append(float(flagged.mean()))
    return shares


def calibration_check(recorded: dict[str, np.ndarray], catalog: str) -> None:
    """The calibration recomputed from what was recorded must be the one the service stored."""
    size = int(recorded["sample_default"])
    relevance = relevance_of(recorded, RULES[0])
    threshold, kind_threshold, gate = recorded["stored"]
    problems = []
    if not np.allclose(relevance, recorded["stored_relevance"], atol=1e-4):
        problems.append("the kind relevance differs from the stored one")
    positives = recorded[f"calibration{size}_match"]
    if not np.isclose(np.quantile(positives, RULES[0].keep_share), threshold, atol=1e-5):
        problems.append("the match threshold differs from the stored one")
    if not np.isclose(np.quantile(positives, RULES[0].gate_share), gate, atol=1e-5):
        problems.append("the kind gate differs from the stored one")
    scores = kind_scores(recorded, f"calibration{size}_kinds", relevance, RULES[0].temperature)
    if not np.isclose(np.quantile(scores, RULES[0].kind_share), kind_threshold, atol=1e-5):
        problems.append("the kind threshold differs from the stored one")
    if problems:
        raise SystemExit(f"{catalog}: the replay does not reproduce the calibration: " + "; ".join(problems))


def decisions_check(recorded: dict[str, np.ndarray], sets: int, catalog: str) -> None:
    """The stored calibration's rule, replayed, must decide as the service did, photo for photo."""
    threshold, kind_threshold, gate = recorded["stored"]
    relevance = recorded["stored_relevance"]  # rounded as stored: what a search multiplies
    problems = []
    for number in range(sets):
        distance = recorded[f"set{number}_distance"]
        scores = kind_scores(recorded, f"set{number}_kinds", relevance, RULES[0].temperature)
        flagged = (distance > threshold) | ((distance > gate) & (scores < kind_threshold))
        differ = int((flagged != recorded[f"set{number}_flagged"]).sum())
        if differ:
            problems.append(f"set {number}: {differ} photos decided otherwise than the service did")
    if problems:
        raise SystemExit(f"{catalog}: the replay does not reproduce the service: " + "; ".join(problems))


def child_run(catalog: str, folder: Path, *, dev_copies: int) -> Path:
    """Record ``catalog`` in a child process with its own throwaway servers (a fresh database)."""
    from benchmarks.quality.__main__ import child_environment

    out = folder / f"{catalog}.npz"
    command = [sys.executable, "-m", "benchmarks.quality.no_match_replay", "--record", catalog, "--out", str(out),
               "--dev-copies", str(dev_copies)]  # fmt: skip
    completed = subprocess.run(command, env=child_environment(), cwd=Path(__file__).resolve().parents[2], check=False)
    if completed.returncode != 0:
        raise SystemExit(f"recording {catalog} failed (exit status {completed.returncode})")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--record", choices=sorted(SETS), help=argparse.SUPPRESS)  # the child process
    parser.add_argument("--dev-copies", type=int, default=DEV_COPIES["fashion"],
                        help="copies of other fashion products in the fashion catalog's dev set (1-9000)")  # fmt: skip
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help="keep the recordings here (replayed again when present)")
    parser.add_argument("--json", type=Path, help="also write the table as JSON here")
    parser.add_argument(
        "--grid", action="store_true", help="also every rule of the GRID_ settings; print those meeting DEV_CRITERIA"
    )
    args = parser.parse_args()
    if not 0 < args.dev_copies <= 9000:  # at most the fashion products there are, less a few
        parser.error("--dev-copies must be between 1 and 9000")
    if args.record:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        record(args.record, args.out, dev_copies=args.dev_copies)
        return
    missing = datasets_missing()
    if missing:
        raise SystemExit(f"the data sets are not there ({', '.join(map(str, missing))}); nothing to replay")
    folder = args.folder or Path(tempfile.mkdtemp(prefix="no-match-replay-"))
    folder.mkdir(parents=True, exist_ok=True)
    table: dict[str, dict[str, dict[str, float]]] = {}
    recordings: dict[str, tuple[dict[str, np.ndarray], list[str]]] = {}
    for catalog, kinds in SETS.items():
        path = folder / f"{catalog}.npz"
        if not path.exists():
            child_run(catalog, folder, dev_copies=args.dev_copies)
        recorded = dict(np.load(path))
        names = [*(f"in: {name}" for name in kinds["in"]), *(f"out: {name}" for name in kinds["out"])]
        calibration_check(recorded, catalog)
        decisions_check(recorded, len(names), catalog)
        recordings[catalog] = (recorded, names)
        table[catalog] = {
            rule.name: dict(zip(names, replay(recorded, rule, len(names)), strict=True)) for rule in RULES
        }
    for catalog, rows in table.items():
        columns = list(next(iter(rows.values())))
        print(f"\n{catalog} catalog: share flagged (goals: in <= 0.02 fashion / 0.05 grocery, out >= 0.90)")
        print(f"{'rule':46s}" + "".join(f"{name[:26]:>28s}" for name in columns))
        for rule, shares in rows.items():
            print(f"{rule:46s}" + "".join(f"{shares[name]:>28.3f}" for name in columns))
    if args.grid:
        _grid_print(recordings)
    print(f"\nrecordings in {folder}")
    if args.json:
        args.json.write_text(json.dumps(table, indent=1))


def _grid_print(recordings: dict[str, tuple[dict[str, np.ndarray], list[str]]]) -> None:
    rules = grid_rules()
    passing = []
    for rule in rules:
        shares = {
            catalog: dict(zip(names, replay(recorded, rule, len(names)), strict=True))
            for catalog, (recorded, names) in recordings.items()
        }
        if meets_dev_criteria(shares):
            passing.append((rule, shares))
    print(f"\ngrid: {len(rules)} rules, {len(passing)} meet the dev criteria ({DEV_CRITERIA})")
    for rule, shares in passing:
        print(f"  {rule.name}")
        for catalog, values in shares.items():
            print(f"    {catalog}: " + "; ".join(f"{name} {value:.3f}" for name, value in values.items()))


if __name__ == "__main__":
    main()
