"""The keyword leg of search: a weighted Postgres full-text document per product, SKU matches,
and typo correction against the catalog's own vocabulary.

Typo tolerance does not need ``pg_trgm`` (the embedded Postgres has no contrib modules): a
query word that matches no catalog word is replaced by the closest one (difflib), looked up in
a vocabulary of the catalog's words (``ts_stat``), cached. See docs/adr/0005-filtered-vector-search.md.
"""

from __future__ import annotations

import bisect
import difflib
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection

from catalog.models import Product
from search.conf import search_setting
from search.vector_store import ProductFilter

CONFIG = "english"  # stems plurals ("shirts" finds "shirt"); SKUs use "simple"
WORD = re.compile(r"[^\W_]+", re.UNICODE)
VOCABULARY_KEY = "snapshelf:search:vocabulary"
LOCAL_VOCABULARY_SECONDS = 30.0
_local_vocabulary: list = [0.0, []]  # [expires (monotonic), words]


@dataclass(frozen=True)
class KeywordHit:
    product_id: int
    rank: float


# --- writes: the documents -----------------------------------------------------------------


def _structured_text(product: Product) -> str:
    category = product.category.full_path.replace(">", " ") if product.category else ""
    values = [str(value) for _, value in sorted((product.attributes or {}).items()) if value]
    return " ".join([product.brand or "", category, *values])


def product_keywords_refresh(products: Iterable[Product]) -> int:
    """Write (or rewrite) the keyword documents of ``products`` (category loaded or loadable)."""
    rows = [
        (p.pk, p.title, p.sku, _structured_text(p), (p.description or "")[:4000], p.sku.upper()[:100]) for p in products
    ]
    if not rows:
        return 0
    sql = (
        "INSERT INTO search_productkeywords (product_id, document, sku_key) VALUES (%s, "
        f"setweight(to_tsvector('{CONFIG}', %s), 'A') || setweight(to_tsvector('simple', %s), 'A') || "
        f"setweight(to_tsvector('{CONFIG}', %s), 'B') || setweight(to_tsvector('{CONFIG}', %s), 'D'), %s) "
        "ON CONFLICT (product_id) DO UPDATE SET document = EXCLUDED.document, sku_key = EXCLUDED.sku_key"
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)
    return len(rows)


# --- reads ---------------------------------------------------------------------------------


def query_words(text: str) -> list[str]:
    return [word.lower() for word in WORD.findall(text)][:20]


@dataclass(frozen=True)
class SkuMatches:
    exact: int | None  # the product whose SKU is exactly the text (case-insensitive)
    prefix: list[int]  # products whose SKU starts with the text, shortest first


def sku_matches(text: str, product_filter: ProductFilter, *, limit: int) -> SkuMatches:
    """SKU matches of ``text`` (one token) among the products that pass the filter: the exact
    match, and prefix matches when ``text`` has at least 3 characters. One statement: an exact
    match is also the shortest prefix match, so it comes first."""
    key = text.strip().upper()
    if not key or " " in key:
        return SkuMatches(None, [])
    prefixes = len(key) >= 3
    if prefixes:
        match, pattern = "sku_key LIKE %s", key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    else:
        match, pattern, limit = "sku_key = %s", key, 1
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT product_id, sku_key = %s FROM search_productkeywords WHERE {match} "
            f"AND product_id IN ({product_filter.sql}) ORDER BY length(sku_key), sku_key LIMIT %s",
            [key, pattern, *product_filter.params, int(limit)],
        )
        rows = cursor.fetchall()
    exact = int(rows[0][0]) if rows and rows[0][1] else None
    return SkuMatches(exact, [int(row[0]) for row in rows] if prefixes else [])


def keyword_hits(words: list[str], product_filter: ProductFilter, *, limit: int) -> list[KeywordHit]:
    """Products whose document matches any word (prefix match), best ``ts_rank_cd`` first:
    a product matching more words, or in its title, ranks higher."""
    terms = [f"{word}:*" for word in words if word.isalnum()]
    if not terms:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT k.product_id, ts_rank_cd(k.document, q) AS rank "
            f"FROM search_productkeywords k, to_tsquery('{CONFIG}', %s) q "
            f"WHERE k.document @@ q AND k.product_id IN ({product_filter.sql}) "
            "ORDER BY rank DESC, k.product_id LIMIT %s",
            [" | ".join(terms), *product_filter.params, int(limit)],
        )
        return [KeywordHit(int(row[0]), float(row[1])) for row in cursor.fetchall()]


# --- typo correction -----------------------------------------------------------------------


def vocabulary() -> list[str]:
    """The words of the catalog's titles, brands, categories and attribute values, sorted (for
    prefix checks) and cached for SEARCH_STATS_TTL_SECONDS. Surface words, not stems, so that a
    corrected query still reads well to people and to the text model."""
    now = time.monotonic()
    if _local_vocabulary[0] > now:
        return _local_vocabulary[1]
    words = cache.get(VOCABULARY_KEY)
    if words is None:
        documents = (
            "SELECT to_tsvector('simple', concat_ws(' ', title, brand, attributes::text)) "
            "FROM catalog_product WHERE is_active UNION ALL SELECT to_tsvector('simple', name) FROM catalog_category"
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT word FROM ts_stat(%s) WHERE word ~ '^[[:alpha:]]+$'", [documents])
            words = sorted(row[0] for row in cursor.fetchall())
        cache.set(VOCABULARY_KEY, words, search_setting("SEARCH_STATS_TTL_SECONDS"))
    # Also kept in the process for a short while: unpickling a large vocabulary from Redis on
    # every query would cost milliseconds.
    _local_vocabulary[:] = [now + LOCAL_VOCABULARY_SECONDS, words]
    return words


def vocabulary_forget() -> None:
    cache.delete(VOCABULARY_KEY)
    _local_vocabulary[:] = [0.0, []]


def _stop_words(words: list[str]) -> list[bool]:
    """Whether each word is a stop word of the search configuration (no lexeme)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT coalesce(ts_lexize('{CONFIG}_stem', w), ARRAY[]::text[]) "
            "FROM unnest(%s::text[]) WITH ORDINALITY AS t(w, n) ORDER BY n",
            [words],
        )
        return [not row[0] for row in cursor.fetchall()]


def _known(word: str, vocab: list[str]) -> bool:
    # Also a word being typed: a prefix of a catalog word counts as known.
    index = bisect.bisect_left(vocab, word)
    return index < len(vocab) and vocab[index].startswith(word)


def words_correct(words: list[str]) -> list[str]:
    """Replace words that match nothing in the catalog by the closest catalog word, when one is
    close enough. Numbers, short words and stop words are left alone."""
    if not words:
        return words
    vocab = vocabulary()
    corrected = []
    for word, stop in zip(words, _stop_words(words), strict=True):
        if len(word) < 4 or not word.isalpha() or stop or _known(word, vocab):
            corrected.append(word)
            continue
        # Same first letter and a similar length: typos rarely hit the first letter, and this
        # keeps difflib's work small on a large vocabulary.
        candidates = [w for w in _bucket(vocab, word[0]) if abs(len(w) - len(word)) <= 2]
        match = difflib.get_close_matches(word, candidates, n=1, cutoff=search_setting("SEARCH_TYPO_CUTOFF"))
        corrected.append(match[0] if match else word)
    return corrected


def _bucket(vocab: list[str], letter: str) -> list[str]:
    start = bisect.bisect_left(vocab, letter)
    end = bisect.bisect_left(vocab, chr(ord(letter) + 1))
    return vocab[start:end]
