"""The benchmark's data sets and queries, read from ../shared/datasets (no Django here).

Everything is seeded: the same options give the same queries on every run.
"""

from __future__ import annotations

import csv
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

# ../shared/datasets beside the checkout; SNAPSHELF_DATASETS_DIR points elsewhere (a git worktree).
DATASETS = Path(os.environ.get("SNAPSHELF_DATASETS_DIR") or Path(__file__).resolve().parents[3] / "shared" / "datasets")
FASHION = DATASETS / "fashion"
GROCERY = DATASETS / "grocery"
SEED = 11


def datasets_missing() -> list[Path]:
    """The data set files the benchmark needs that are not there."""
    needed = [FASHION / "metadata.csv", FASHION / "images", GROCERY / "metadata.csv", GROCERY / "classes_with_text.csv"]
    return [path for path in needed if not path.exists()]


# --- fashion -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FashionItem:
    sku: str
    article_type: str
    colour: str
    gender: str
    image: Path


def fashion_items(limit: int | None = None) -> list[FashionItem]:
    """The products read_fashion_csv imports (in file order, the first ``limit``), with their labels."""
    items = []
    with (FASHION / "metadata.csv").open(newline="", encoding="utf-8-sig") as handle:
        for record in csv.DictReader(handle):
            if not record["productDisplayName"].strip() or not record["image"].strip():
                continue
            items.append(
                FashionItem(
                    sku=f"fashion-{record['id']}",
                    article_type=record["articleType"],
                    colour=record["baseColour"],
                    gender=record["gender"],
                    image=FASHION / record["image"],
                )
            )
            if limit is not None and len(items) >= limit:
                break
    return items


def fashion_duplicate_skus() -> set[str]:
    """Products that share a byte-identical photo with another: "the right product" is ambiguous."""
    path = FASHION / "exact_duplicate_image_groups.csv"
    if not path.exists():
        return set()
    with path.open(newline="", encoding="utf-8-sig") as handle:
        skus = {f"fashion-{record['id']}" for record in csv.DictReader(handle)}
    return skus


def fashion_sample(items: list[FashionItem], count: int, *, salt: str) -> list[FashionItem]:
    """``count`` products picked with a fixed seed, none with a duplicated photo."""
    duplicates = fashion_duplicate_skus()
    candidates = [item for item in items if item.sku not in duplicates]
    return random.Random(f"{SEED}-{salt}").sample(candidates, min(count, len(candidates)))


def shopper_seed(item: FashionItem) -> int:
    """The shopper_photo seed of a product's query: its own, so reduced runs ask the same photos."""
    return int(item.sku.removeprefix("fashion-"))


# --- fashion words ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WordQuery:
    text: str
    form: str  # "catalog words", "singular", "typo", "other order"
    wants: dict[str, str] = field(default_factory=dict)  # label -> value a right product carries

    def matches(self, item: FashionItem) -> bool:
        return all(getattr(item, label) == value for label, value in self.wants.items())


WORD_FORMS = ("catalog words", "singular", "typo", "other order")


def word_queries(items: list[FashionItem], count: int, *, min_products: int = 10) -> list[WordQuery]:
    """``count`` base queries (colour + article type, half of them with gender too) that at least
    ``min_products`` products match, each in every WORD_FORMS form."""
    pairs: dict[tuple[str, str], int] = {}
    triples: dict[tuple[str, str, str], int] = {}
    for item in items:
        pairs[(item.colour, item.article_type)] = pairs.get((item.colour, item.article_type), 0) + 1
        key = (item.colour, item.article_type, item.gender)
        triples[key] = triples.get(key, 0) + 1
    rng = random.Random(f"{SEED}-words")
    pair_keys = sorted(k for k, n in pairs.items() if n >= min_products)
    triple_keys = sorted(k for k, n in triples.items() if n >= min_products)
    picked_triples = rng.sample(triple_keys, min(count // 2, len(triple_keys)))
    picked_pairs = rng.sample(pair_keys, min(count - len(picked_triples), len(pair_keys)))
    bases: list[dict[str, str]] = [{"colour": c, "article_type": t} for c, t in picked_pairs]
    bases += [{"colour": c, "article_type": t, "gender": g} for c, t, g in picked_triples]
    queries = []
    for wants in bases:
        for form in WORD_FORMS:
            queries.append(WordQuery(_word_text(wants, form, rng), form, wants))
    return queries


def _word_text(wants: dict[str, str], form: str, rng: random.Random) -> str:
    colour, article = wants["colour"].lower(), _article_words(wants["article_type"])
    gender = wants.get("gender", "").lower()
    if form == "singular":
        article = _singular(article)
    elif form == "typo":
        article = _typo(article, rng)
    other_order = form == "other order"
    words = [article, colour, f"for {gender}" if gender else ""] if other_order else [gender, colour, article]
    return " ".join(word for word in words if word)


def _article_words(article_type: str) -> str:
    """ "Tshirts" -> "tshirts", "Casual Shoes" -> "casual shoes" (the catalog's own words)."""
    return article_type.lower()


def _singular(words: str) -> str:
    *head, last = words.split()
    if last.endswith(("ches", "shes", "sses", "xes")):
        last = last[:-2]
    elif last.endswith("ies"):
        last = last[:-3] + "y"
    elif last.endswith("s") and not last.endswith("ss"):
        last = last[:-1]
    return " ".join([*head, last])


def _typo(words: str, rng: random.Random) -> str:
    """One edit in the longest word (a swap of two neighbours, a dropped or doubled letter)."""
    parts = words.split()
    index = max(range(len(parts)), key=lambda i: len(parts[i]))
    word = parts[index]
    if len(word) >= 4:
        at = rng.randrange(1, len(word) - 2)
        kind = rng.randrange(3)
        if kind == 0:
            word = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
        elif kind == 1:
            word = word[:at] + word[at + 1 :]
        else:
            word = word[:at] + word[at] + word[at:]
    parts[index] = word
    return " ".join(parts)


# --- grocery -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroceryPhoto:
    sku: str
    image: Path


def grocery_sku(class_id: str) -> str:
    return f"grocery-{class_id}"


def grocery_photos(split: str, *, per_product: int | None = None) -> list[GroceryPhoto]:
    """The shop photos of ``split`` (train, val or test), at most ``per_product`` of each product."""
    if split not in ("train", "val", "test"):
        raise ValueError(f"unknown split {split!r}")
    photos, seen = [], dict[str, int]()
    with (GROCERY / "metadata.csv").open(newline="", encoding="utf-8-sig") as handle:
        for record in csv.DictReader(handle):
            if record["kind"] != "natural" or record["split"] != split:
                continue
            sku = grocery_sku(record["class_id"])
            seen[sku] = seen.get(sku, 0) + 1
            if per_product is None or seen[sku] <= per_product:
                photos.append(GroceryPhoto(sku, GROCERY / record["image"]))
    return photos


def grocery_csv_write(folder: Path, *, train_photos: list[GroceryPhoto] | None = None) -> Path:
    """The 81 grocery products as a catalog CSV (generic format): title, description, category
    and the catalog photo, plus the given shop photos as search-only images of their product
    (the ``search_images`` column: found by search, never shown)."""
    extra: dict[str, list[str]] = {}
    for photo in train_photos or []:
        extra.setdefault(photo.sku, []).append(str(photo.image.relative_to(GROCERY)))
    path = folder / "grocery.csv"
    with (
        (GROCERY / "classes_with_text.csv").open(newline="", encoding="utf-8-sig") as source,
        path.open("w", newline="", encoding="utf-8") as target,
    ):
        writer = csv.DictWriter(target, ["sku", "title", "description", "category", "images", "search_images"])
        writer.writeheader()
        for record in csv.DictReader(source):
            sku = grocery_sku(record["class_id"])
            title = record["product_title"].strip() or record["class_name"].replace("-", " ")
            writer.writerow(
                {
                    "sku": sku,
                    "title": title,
                    "description": record["description"],
                    "category": f"{record['top_category']} > {record['coarse_class_name']}",
                    "images": record["iconic_image"],
                    "search_images": "|".join(extra.get(sku, [])),
                }
            )
    return path


# --- run options -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """How big a run is. The defaults are the full benchmark; the regression test shrinks them."""

    preset: str = "offline"
    fashion_limit: int | None = None  # products imported (None: all 9,583)
    shopper: int = 500  # shopper-like photo queries
    more_like_this: int = 500
    words: int = 100  # base word queries, each asked in every WORD_FORMS form
    rejection: int = 300  # photos of the other data set, per direction
    split: str = "val"  # grocery queries; "test" only for a final report, never for tuning
    grocery_queries: int | None = None  # shop photos of the split asked (None: all)
    train_per_product: int | None = None  # grocery train photos added per product (None: all)
    baselines: bool = True
    # Grocery: also tune the model to the shop on the train photos (search_model tune), then ask again.
    tune: bool = False
    # Photos in each of the gate's two self-tests: held-out train-split shop photos (a share of the
    # train photos kept out of training by search_model tune), or catalog photos' copies without them.
    tune_gate_sample: int = 81


def grocery_catalog_photos() -> list[GroceryPhoto]:
    """Each grocery product's one catalog ("iconic") photo."""
    with (GROCERY / "classes_with_text.csv").open(newline="", encoding="utf-8-sig") as handle:
        return [GroceryPhoto(grocery_sku(r["class_id"]), GROCERY / r["iconic_image"]) for r in csv.DictReader(handle)]
