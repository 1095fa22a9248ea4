"""Typo correction on the fashion catalog's words: the shipped pg_trgm + difflib correction
against the previous in-process difflib scan, side by side in one run.

    python -m benchmarks.typos [--typos 1000] [--seed 7] [--products]

The vocabulary is the words of the fashion set's titles, attribute values and category names
(../shared/datasets/fashion/metadata.csv), written with the service that product saves use.
Each typo is one edit (deletion, substitution, transposition or insertion) of a vocabulary word
of 5 letters or more that leaves no catalog word or prefix of one. Reports how often each
method gives back the original word, another word, or leaves it, and the time per call; also
pg_trgm on its own, and how often the original word is among the candidates difflib sees.

Uses config.settings.test: its own Postgres and Redis in a temporary folder, never .data/.
"""

from __future__ import annotations

import argparse
import bisect
import dataclasses
import difflib
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable

import numpy as np

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from benchmarks.quality.datasets import FASHION  # noqa: E402  (SNAPSHELF_DATASETS_DIR or ../shared/datasets)
from catalog.importing.readers import read_fashion_csv  # noqa: E402
from catalog.importing.rows import ImportRow  # noqa: E402
from search.conf import search_setting  # noqa: E402
from search.models import VocabularyWord  # noqa: E402
from search.services.keywords import TYPO_CANDIDATES, vocabulary_words_add, words_correct  # noqa: E402

LETTERS = "abcdefghijklmnopqrstuvwxyz"
EDITS = {"d": "deletion", "s": "substitution", "t": "transposition", "i": "insertion"}


def vocabulary_load(*, products: bool = False) -> list[str]:
    rows = [row for row in read_fashion_csv(FASHION / "metadata.csv") if isinstance(row, ImportRow)]
    if products:
        # The products themselves (their keyword documents, without photos): equally close
        # candidates are then told apart by how many products have them.
        from catalog.importing.runner import CatalogImporter

        CatalogImporter(images_dir=FASHION).run(dataclasses.replace(row, images=[]) for row in rows)
    texts = []
    for row in rows:
        values = [str(value) for value in row.fields.get("attributes", {}).values()]
        texts.append(" ".join([row.fields["title"], row.fields.get("brand", ""), *values, row.category_path]))
    VocabularyWord.objects.all().delete()
    vocabulary_words_add(texts)
    return sorted(VocabularyWord.objects.values_list("word", flat=True))


def typo(rng: random.Random, word: str, *, first_letter: bool) -> tuple[str, str]:
    i = rng.randrange(0 if first_letter else 1, len(word) - 1)
    kind = rng.choice("dsti")
    if kind == "d":
        return word[:i] + word[i + 1 :], kind
    if kind == "s":
        return word[:i] + rng.choice(LETTERS.replace(word[i], "")) + word[i + 1 :], kind
    if kind == "t" and word[i] != word[i + 1]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :], kind
    return word[:i] + rng.choice(LETTERS) + word[i:], "i"


def typos_make(vocab: list[str], count: int, rng: random.Random, *, first_letter: bool) -> list[tuple[str, str, str]]:
    words = [w for w in vocab if len(w) >= 5 and w.isalpha()]
    made = []
    while len(made) < count:
        word = rng.choice(words)
        wrong, kind = typo(rng, word, first_letter=first_letter)
        index = bisect.bisect_left(vocab, wrong)
        if index < len(vocab) and vocab[index].startswith(wrong):
            continue  # a catalog word (or the start of one): not a typo to correct
        made.append((word, wrong, kind))
    return made


def previous_correct(vocab: list[str]) -> Callable[[str], str]:
    """The correction before pg_trgm: difflib over the whole in-process vocabulary, among words
    with the same first letter and a length within 2 (timed without its stop-word query)."""

    def correct(word: str) -> str:
        start, end = bisect.bisect_left(vocab, word[0]), bisect.bisect_left(vocab, chr(ord(word[0]) + 1))
        candidates = [w for w in vocab[start:end] if abs(len(w) - len(word)) <= 2]
        match = difflib.get_close_matches(word, candidates, n=1, cutoff=search_setting("SEARCH_TYPO_CUTOFF"))
        return match[0] if match else word

    return correct


def trigram_alone(word: str) -> str:
    """pg_trgm on its own: the most similar word above its default threshold (0.3)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT word FROM search_vocabularyword WHERE word %% %s ORDER BY similarity(word, %s) DESC, word LIMIT 1",
            [word, word],
        )
        row = cursor.fetchone()
    return row[0] if row else word


def candidates_recall(typos: list[tuple[str, str, str]]) -> float:
    """How often the original word is among the TYPO_CANDIDATES nearest that difflib chooses from."""
    found = 0
    with connection.cursor() as cursor:
        for word, wrong, _ in typos:
            cursor.execute(
                "SELECT word FROM search_vocabularyword ORDER BY word <-> %s, word LIMIT %s", [wrong, TYPO_CANDIDATES]
            )
            found += word in {row[0] for row in cursor.fetchall()}
    return found / len(typos)


def measure(label: str, correct: Callable[[str], str], typos: list[tuple[str, str, str]]) -> None:
    outcome: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    times = []
    for word, wrong, kind in typos:
        started = time.perf_counter()
        fixed = correct(wrong)
        times.append((time.perf_counter() - started) * 1000)
        outcome["right" if fixed == word else "left" if fixed == wrong else "wrong"] += 1
        by_kind[kind, fixed == word] += 1
    n = len(typos)
    kinds = "  ".join(
        f"{EDITS[k]} {by_kind[k, True] / max(1, by_kind[k, True] + by_kind[k, False]):.2f}" for k in "dsti"
    )
    print(
        f"  {label:<34} right {outcome['right'] / n:.3f}  wrong {outcome['wrong'] / n:.3f}  "
        f"left {outcome['left'] / n:.3f}   p50 {np.percentile(times, 50):.2f} ms  p95 {np.percentile(times, 95):.2f} ms"
    )
    print(f"  {'':<34} {kinds}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--typos", type=int, default=1000, help="typos per line (default 1,000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--products",
        action="store_true",
        help="also import the fashion products (no photos): equally close words are then chosen by "
        "how many products have them, as in a shop; without, only the vocabulary is written",
    )
    args = parser.parse_args()
    if not FASHION.is_dir():
        sys.exit(f"benchmarks.typos needs the fashion data set: {FASHION} is absent")
    call_command("migrate", verbosity=0)
    vocab = vocabulary_load(products=args.products)
    print(f"Vocabulary: {len(vocab):,} words from {FASHION}; cutoff {search_setting('SEARCH_TYPO_CUTOFF')}")
    shipped = lambda word: words_correct([word])[0]  # noqa: E731
    previous = previous_correct(vocab)
    for first_letter in (False, True):
        rng = random.Random(args.seed)
        typos = typos_make(vocab, args.typos, rng, first_letter=first_letter)
        print(f"\n{len(typos):,} one-edit typos, {'any letter' if first_letter else 'first letter kept'}:")
        methods = (
            ("pg_trgm nearest 25 + difflib", shipped),
            ("previous: difflib, same letter", previous),
            ("pg_trgm alone (similarity >= 0.3)", trigram_alone),
        )
        for label, correct in methods:
            for _, wrong, _ in typos[:50]:  # warm-up
                correct(wrong)
            measure(label, correct, typos)
        recall = candidates_recall(typos)
        print(f"  original word among the {TYPO_CANDIDATES} nearest by trigram distance: {recall:.3f}")
    known = [word for word in vocab if word.isalpha() and len(word) >= 4]
    known = random.Random(args.seed).sample(known, min(len(known), args.typos))
    changed = sum(words_correct([word])[0] != word for word in known)
    print(f"\nCatalog words changed by the shipped correction: {changed} of {len(known):,}")
    times = []
    for first, second in zip(known[::2], known[1::2], strict=False):
        started = time.perf_counter()
        words_correct([first, second])
        times.append((time.perf_counter() - started) * 1000)
    p50, p95 = np.percentile(times, 50), np.percentile(times, 95)
    print(f"Two catalog words (nothing to correct): p50 {p50:.2f} ms  p95 {p95:.2f} ms")


if __name__ == "__main__":
    main()
