"""The keyword leg of search: a weighted Postgres full-text document per product, SKU matches,
and typo correction against the catalog's own vocabulary.

A query word that matches no catalog word is replaced by the closest one: the vocabulary
(search.models.VocabularyWord) has a pg_trgm index that finds the nearest words, and difflib
picks among them. See docs/adr/0005-filtered-vector-search.md.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from catalog.models import Product
from search.conf import search_setting
from search.vector_store import ProductFilter

CONFIG = "english"  # stems plurals ("shirts" finds "shirt"); SKUs use "simple"
WORD = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True)
class KeywordHit:
    product_id: int
    rank: float


# --- writes: the documents -----------------------------------------------------------------


def _structured_text(product: Product) -> str:
    category = product.category.full_path.replace(">", " ") if product.category else ""
    values = [str(value) for _, value in sorted((product.attributes or {}).items()) if value]
    return " ".join([product.brand or "", category, *values])


def product_keywords_refresh(products: Iterable[Product], *, vocabulary: bool = True) -> int:
    """Write (or rewrite) the keyword documents of ``products`` (category loaded or loadable),
    and add their new words to the vocabulary once the transaction commits (``vocabulary=False``:
    only the documents, for a migration that runs before the vocabulary exists)."""
    products = list(products)
    structured = {p.pk: _structured_text(p) for p in products}
    rows = [
        (p.pk, p.title, p.sku, structured[p.pk], (p.description or "")[:4000], p.sku.upper()[:100]) for p in products
    ]
    if not rows:
        return 0
    # After commit, in its own short statement: a long import then holds no locks on new words,
    # and a rolled-back save adds none.
    texts = [f"{p.title} {structured[p.pk]}" for p in products if p.is_active]
    if vocabulary and texts:
        transaction.on_commit(lambda: vocabulary_words_add(texts))
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
    """Products whose document matches any word (prefix match from PREFIX_MIN_LENGTH letters),
    best ``ts_rank_cd`` first: a product matching more words, or in its title, ranks higher."""
    return _hits_read(_hits_sql(words, product_filter, limit))


def _hits_read(hits_sql: tuple[str, list[Any]] | None) -> list[KeywordHit]:
    if hits_sql is None:
        return []
    with connection.cursor() as cursor:
        cursor.execute(*hits_sql)
        return [KeywordHit(int(row[0]), float(row[1])) for row in cursor.fetchall()]


# Words shorter than this match whole words only: "b:*" would match most of a catalog (a
# one-letter query cost 250 ms) and rank it by nothing useful.
PREFIX_MIN_LENGTH = 3


def _hits_sql(words: list[str], product_filter: ProductFilter, limit: int) -> tuple[str, list[Any]] | None:
    terms = [f"{word}:*" if len(word) >= PREFIX_MIN_LENGTH else word for word in words if word.isalnum()]
    if not terms:
        return None
    sql = (
        "SELECT k.product_id, ts_rank_cd(k.document, q) AS rank "
        f"FROM search_productkeywords k, to_tsquery('{CONFIG}', %s) q "
        f"WHERE k.document @@ q AND k.product_id IN ({product_filter.sql}) "
        "ORDER BY rank DESC, k.product_id LIMIT %s"
    )
    return sql, [" | ".join(terms), *product_filter.params, int(limit)]


@dataclass(frozen=True)
class KeywordSearch:
    words: list[str]  # the query's words, each replaced by a close catalog word where it matched none
    hits: list[KeywordHit]  # for those words


def keyword_search(words: list[str], product_filter: ProductFilter, *, limit: int) -> KeywordSearch:
    """words_correct() and then keyword_hits() for the corrected words, in one statement when no
    word needs correcting (most queries): the statement also runs the hits of the words as typed,
    and only a corrected query needs a second one."""
    correctable = _correctable(words)
    hits_sql = _hits_sql(words, product_filter, limit)
    if not correctable or hits_sql is None:
        # Nothing to correct (a correctable word is letters, so it always makes a search term too).
        return KeywordSearch(words, _hits_read(hits_sql))
    hits_query, hits_params = hits_sql
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.word, c.candidates, NULL, NULL FROM ({CANDIDATES_SQL}) c "
            f"UNION ALL SELECT NULL, NULL, h.product_id, h.rank FROM ({hits_query}) h",
            [TYPO_CANDIDATES, correctable, *hits_params],
        )
        rows = cursor.fetchall()
    corrected = _corrections_pick(words, {row[0]: row[1] for row in rows if row[0] is not None})
    if corrected != words:
        return KeywordSearch(corrected, keyword_hits(corrected, product_filter, limit=limit))
    hits = [KeywordHit(int(row[2]), float(row[3])) for row in rows if row[0] is None]
    hits.sort(key=lambda hit: (-hit.rank, hit.product_id))  # the order the hits' statement gives
    return KeywordSearch(words, hits)


# --- typo correction -----------------------------------------------------------------------

# Closest vocabulary words (pg_trgm) that difflib then compares with the query word. On the
# fashion catalog the right word was among the 25 closest for all of 1,000 one-edit typos
# (benchmarks/typos.py, docs/performance.md).
TYPO_CANDIDATES = 25
VOCABULARY_TEXT = (
    # The words people search with: titles, brands, attribute values and category names (not
    # descriptions). Surface words ('simple'), not stems, so a corrected query reads well to
    # people and to the text model.
    "SELECT concat_ws(' ', p.title, p.brand, (SELECT string_agg(a.value, ' ') FROM jsonb_each_text("
    "CASE WHEN jsonb_typeof(p.attributes) = 'object' THEN p.attributes END) a)) FROM catalog_product p "
    "WHERE p.is_active UNION ALL SELECT name FROM catalog_category"
)
VOCABULARY_WORDS = (
    "SELECT DISTINCT w.lexeme FROM {texts} AS t(text), unnest(to_tsvector('simple', t.text)) AS w "
    "WHERE w.lexeme ~ '^[[:alpha:]]+$' AND length(w.lexeme) <= 50"
)


def vocabulary_words_add(texts: list[str]) -> None:
    """Add the words of ``texts`` that the vocabulary lacks."""
    # In word order, so that two of these running at once cannot deadlock on each other's new words.
    words = VOCABULARY_WORDS.format(texts="unnest(%s::text[])")
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO search_vocabularyword (word) {words} ORDER BY 1 ON CONFLICT DO NOTHING", [texts])


def vocabulary_rebuild() -> int:
    """Make the vocabulary exactly the words of active products and categories (new words are
    also added as products are saved; this drops the words nothing uses any more). Returns the
    number of words."""
    words = VOCABULARY_WORDS.format(texts=f"({VOCABULARY_TEXT})")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"WITH words(word) AS ({words}), "
            "gone AS (DELETE FROM search_vocabularyword v WHERE NOT EXISTS "
            "(SELECT 1 FROM words WHERE words.word = v.word)) "
            "INSERT INTO search_vocabularyword (word) SELECT word FROM words ORDER BY 1 ON CONFLICT DO NOTHING"
        )
        cursor.execute("SELECT count(*) FROM search_vocabularyword")
        return int(cursor.fetchone()[0])


# For each query word: NULL when it is a stop word of the search configuration (it has no lexeme)
# or a catalog word or the start of one (LIKE through the index); otherwise the nearest catalog
# words by trigram distance. Parameters: the number of candidates, the words.
CANDIDATES_SQL = (
    "SELECT q.word, CASE "
    f"WHEN coalesce(cardinality(ts_lexize('{CONFIG}_stem', q.word)), 0) = 0 THEN NULL "
    "WHEN EXISTS (SELECT 1 FROM search_vocabularyword v WHERE v.word LIKE q.word || '%%') THEN NULL "
    "ELSE ARRAY(SELECT v.word FROM search_vocabularyword v ORDER BY v.word <-> q.word, v.word LIMIT %s) "
    "END AS candidates FROM unnest(%s::text[]) AS q(word)"
)


def words_correct(words: list[str]) -> list[str]:
    """Replace words that match nothing in the catalog (and start no catalog word, as a word
    being typed does) by the closest catalog word, when one is close enough: pg_trgm finds the
    nearest vocabulary words through its index, difflib picks the closest at
    SEARCH_TYPO_CUTOFF. Numbers, short words and stop words are left alone."""
    correctable = _correctable(words)
    if not correctable:
        return words
    with connection.cursor() as cursor:
        cursor.execute(CANDIDATES_SQL, [TYPO_CANDIDATES, correctable])
        candidates = dict(cursor.fetchall())
    return _corrections_pick(words, candidates)


def _correctable(words: list[str]) -> list[str]:
    return sorted({word for word in words if len(word) >= 4 and word.isalpha()})


def _corrections_pick(words: list[str], candidates: dict[str, list[str] | None]) -> list[str]:
    cutoff = search_setting("SEARCH_TYPO_CUTOFF")
    corrected = []
    for word in words:
        match = difflib.get_close_matches(word, candidates.get(word) or [], n=1, cutoff=cutoff)
        corrected.append(match[0] if match else word)
    return corrected
