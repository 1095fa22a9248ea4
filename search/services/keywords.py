"""The keyword leg of search: a weighted Postgres full-text document per product, SKU matches,
and typo correction against the catalog's own vocabulary.

Hits come in tiers (KeywordHit.tier): products with every word of the query first, and among
them those whose values (brand, category names, attributes) the query names whole. A query word
that matches no catalog word is replaced by the closest one: the vocabulary
(search.models.VocabularyWord) has a pg_trgm index that finds the nearest words, difflib picks
among them, and the other query words decide between equally close ones. See
docs/adr/0005-filtered-vector-search.md.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from catalog.models import CATEGORY_PATH_SEPARATOR, Product
from search.conf import search_setting
from search.replicas import search_connection
from search.vector_store import ProductFilter

CONFIG = "english"  # stems plurals ("shirts" finds "shirt"); SKUs use "simple"
# English stems with no stop words (search migration 0010): for named values, where "off" in
# "Off White" tells the colour apart from "White".
NAMES_CONFIG = "snapshelf_english"
# Values longer than this many words are not kept as named values: nobody types them whole.
NAMED_MAX_WORDS = 4
WORD = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True)
class KeywordHit:
    product_id: int
    rank: float
    # How completely the product matches the words (higher first, before rank): TIER_EVERY_WORD
    # when its document has every word of the query that is not a stop word, plus the number of
    # query words that name one of its values whole (named_values_of: "navy blue" names the
    # colour Navy Blue, "blue" alone does not). Search fusion keeps tiers apart
    # (search/services/product_search.py).
    tier: int = 0


TIER_EVERY_WORD = 1000


# --- writes: the documents -----------------------------------------------------------------


def _structured_text(product: Product) -> str:
    category = product.category.full_path.replace(">", " ") if product.category else ""
    values = [str(value) for _, value in sorted((product.attributes or {}).items()) if value]
    return " ".join([product.brand or "", category, *values])


def named_values_of(product: Product) -> list[str]:
    """The brand, category names and attribute values a query can name whole, as their words
    (query_words), up to NAMED_MAX_WORDS words each."""
    names = [product.brand or ""]
    if product.category:
        names += product.category.full_path.split(CATEGORY_PATH_SEPARATOR)
    names += [str(value) for _, value in sorted((product.attributes or {}).items()) if value]
    named = {" ".join(query_words(name)) for name in names}
    return sorted(name for name in named if name and len(name.split()) <= NAMED_MAX_WORDS)


# A name as its sorted, distinct stems joined by spaces (to_tsvector sorts and folds them):
# "Navy Blue" and "blue navy" give the same key. {name} is an SQL expression.
NAME_KEY = f"left(array_to_string(tsvector_to_array(to_tsvector('{NAMES_CONFIG}', {{name}})), ' '), 200)"


def product_keywords_refresh(products: Iterable[Product], *, vocabulary: bool = True) -> int:
    """Write (or rewrite) the keyword documents of ``products`` (category loaded or loadable),
    and add their new words to the vocabulary once the transaction commits (``vocabulary=False``:
    only the documents, for a migration that runs before the vocabulary exists)."""
    products = list(products)
    structured = {p.pk: _structured_text(p) for p in products}
    rows = [
        (
            p.pk,
            p.title,
            p.sku,
            structured[p.pk],
            (p.description or "")[:4000],
            p.sku.upper()[:100],
            named_values_of(p),
        )
        for p in products
    ]
    if not rows:
        return 0
    # After commit, in its own short statement: a long import then holds no locks on new words,
    # and a rolled-back save adds none.
    texts = [f"{p.title} {structured[p.pk]}" for p in products if p.is_active]
    if vocabulary and texts:
        transaction.on_commit(lambda: vocabulary_words_add(texts))
    name_key = NAME_KEY.format(name="n")
    sql = (
        "INSERT INTO search_productkeywords (product_id, document, sku_key, named_values) VALUES (%s, "
        f"setweight(to_tsvector('{CONFIG}', %s), 'A') || setweight(to_tsvector('simple', %s), 'A') || "
        f"setweight(to_tsvector('{CONFIG}', %s), 'B') || setweight(to_tsvector('{CONFIG}', %s), 'D'), %s, "
        f"ARRAY(SELECT DISTINCT {name_key} FROM unnest(%s::text[]) n WHERE {name_key} <> '')) "
        "ON CONFLICT (product_id) DO UPDATE SET document = EXCLUDED.document, sku_key = EXCLUDED.sku_key, "
        "named_values = EXCLUDED.named_values"
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
    with search_connection().cursor() as cursor:
        cursor.execute(
            f"SELECT product_id, sku_key = %s FROM search_productkeywords WHERE {match} "
            f"AND product_id IN ({product_filter.sql}) ORDER BY length(sku_key), sku_key LIMIT %s",
            [key, pattern, *product_filter.params, int(limit)],
        )
        rows = cursor.fetchall()
    exact = int(rows[0][0]) if rows and rows[0][1] else None
    return SkuMatches(exact, [int(row[0]) for row in rows] if prefixes else [])


def keyword_hits(words: list[str], product_filter: ProductFilter, *, limit: int) -> list[KeywordHit]:
    """Products whose document matches any word (prefix match from PREFIX_MIN_LENGTH letters):
    those that match every word first (``KeywordHit.tier``), then best ``ts_rank_cd`` first: a
    product matching more words, or in its title, ranks higher."""
    return _hits_read(_hits_sql(words, product_filter, limit))


def _hits_read(hits_sql: tuple[str, list[Any]] | None) -> list[KeywordHit]:
    if hits_sql is None:
        return []
    with search_connection().cursor() as cursor:
        cursor.execute(*hits_sql)
        return _hits_ordered(cursor.fetchall())


def _hits_ordered(rows: Iterable[tuple[Any, ...]]) -> list[KeywordHit]:
    """Rows of (product_id, rank, tier) as hits, in the order the hits' statement gives them."""
    hits = [KeywordHit(int(row[0]), float(row[1]), int(row[2])) for row in rows]
    hits.sort(key=lambda hit: (-hit.tier, -hit.rank, hit.product_id))
    return hits


# Words shorter than this match whole words only: "b:*" would match most of a catalog (a
# one-letter query cost 250 ms) and rank it by nothing useful.
PREFIX_MIN_LENGTH = 3


def _hits_sql(words: list[str], product_filter: ProductFilter, limit: int) -> tuple[str, list[Any]] | None:
    """The statement of keyword_hits. A query of a few common words matches most of a catalog,
    so it ranks (ts_rank_cd, the costly part) only the products whose tier can make the first
    ``limit``: those at or above the tier of the ``limit``-th product in tier order."""
    terms = [f"{word}:*" if len(word) >= PREFIX_MIN_LENGTH else word for word in words if word.isalnum()]
    if not terms:
        return None
    runs = sorted({" ".join(words[i : i + n]) for i in range(len(words)) for n in range(1, NAMED_MAX_WORDS + 1)})
    # q: any word; every: all of them (to_tsquery drops stop words from both); n: the keys of the
    # query's runs of up to NAMED_MAX_WORDS words (distinct; fewer than the runs when two runs
    # give one key) with their lengths in words, for the values the query names whole.
    named = " + ".join(
        f"CASE WHEN n.keys[{i}] = ANY(k.named_values) THEN n.lengths[{i}] ELSE 0 END" for i in range(1, len(runs) + 1)
    )
    sql = (
        f"WITH matched AS MATERIALIZED (SELECT k.product_id, k.document, "
        f"(k.document @@ every)::int * {TIER_EVERY_WORD} + {named} AS tier "
        f"FROM search_productkeywords k, to_tsquery('{CONFIG}', %s) q, to_tsquery('{CONFIG}', %s) every, "
        "(SELECT array_agg(d.key) AS keys, array_agg(array_length(string_to_array(d.key, ' '), 1)) AS lengths "
        f"FROM (SELECT DISTINCT {NAME_KEY.format(name='w')}::varchar AS key FROM unnest(%s::text[]) w) d "
        "WHERE d.key <> '') n "
        f"WHERE k.document @@ q AND k.product_id IN ({product_filter.sql})) "
        "SELECT m.product_id, ts_rank_cd(m.document, q) AS rank, m.tier "
        f"FROM matched m, to_tsquery('{CONFIG}', %s) q WHERE m.tier >= "
        "(SELECT coalesce(min(t.tier), 0) FROM (SELECT tier FROM matched ORDER BY tier DESC LIMIT %s) t) "
        "ORDER BY m.tier DESC, rank DESC, m.product_id LIMIT %s"
    )
    any_word = " | ".join(terms)
    return sql, [any_word, " & ".join(terms), runs, *product_filter.params, any_word, int(limit), int(limit)]


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
    with search_connection().cursor() as cursor:
        cursor.execute(
            f"SELECT c.word, c.candidates, NULL, NULL, NULL FROM ({CANDIDATES_SQL}) c "
            f"UNION ALL SELECT NULL, NULL, h.product_id, h.rank, h.tier FROM ({hits_query}) h",
            [TYPO_CANDIDATES, correctable, *hits_params],
        )
        rows = cursor.fetchall()
    corrected = _corrections_pick(words, {row[0]: row[1] for row in rows if row[0] is not None})
    if corrected != words:
        return KeywordSearch(corrected, keyword_hits(corrected, product_filter, limit=limit))
    return KeywordSearch(words, _hits_ordered(row[2:] for row in rows if row[0] is None))


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
# words by trigram distance, and the catalog words it is with two neighbouring letters swapped
# (a swap changes most trigrams of a short word: "tpos" has not "tops" among its 25 nearest).
# Parameters: the number of candidates, the words.
CANDIDATES_SQL = (
    "SELECT q.word, CASE "
    f"WHEN coalesce(cardinality(ts_lexize('{CONFIG}_stem', q.word)), 0) = 0 THEN NULL "
    "WHEN EXISTS (SELECT 1 FROM search_vocabularyword v WHERE v.word LIKE q.word || '%%') THEN NULL "
    "ELSE ARRAY(SELECT v.word FROM search_vocabularyword v ORDER BY v.word <-> q.word, v.word LIMIT %s) "
    "|| ARRAY(SELECT v.word FROM search_vocabularyword v WHERE v.word IN (SELECT overlay(q.word PLACING "
    "substr(q.word, i + 1, 1) || substr(q.word, i, 1) FROM i FOR 2) FROM generate_series(1, length(q.word) - 1) i)) "
    "END AS candidates FROM unnest(%s::text[]) AS q(word)"
)


def words_correct(words: list[str]) -> list[str]:
    """Replace words that match nothing in the catalog (and start no catalog word, as a word
    being typed does) by the closest catalog word, when one is close enough: pg_trgm finds the
    nearest vocabulary words through its index, difflib keeps the closest at SEARCH_TYPO_CUTOFF,
    and among equally close ones (TYPO_CLOSE_MARGIN) the one the catalog has most often with the
    other words wins. Numbers, words under TYPO_MIN_LENGTH letters and stop words are left alone."""
    correctable = _correctable(words)
    if not correctable:
        return words
    with search_connection().cursor() as cursor:
        cursor.execute(CANDIDATES_SQL, [TYPO_CANDIDATES, correctable])
        candidates = dict(cursor.fetchall())
    return _corrections_pick(words, candidates)


def _correctable(words: list[str]) -> list[str]:
    return sorted({word for word in words if len(word) >= TYPO_MIN_LENGTH and word.isalpha()})


# Words this long or longer are corrected ("tps" -> "tops"); shorter ones are left as typed.
TYPO_MIN_LENGTH = 3
# Catalog words this close to the best one's similarity (difflib ratio) are all in the running,
# and the one the catalog has most often with the query's other words wins: "men blue sirts" is
# "shirts" rather than "skirts" (equally close). Candidates one edit away (a letter dropped, added
# or changed, two neighbours swapped) go before farther ones, however difflib rates them: "black
# betls" is "belts" (a swap), not "beatles" (two letters added, but a higher ratio).
TYPO_CLOSE_MARGIN = 0.05
# Products counted per candidate (enough to tell a common word from a rare one).
TYPO_COUNT_CAP = 1000


def _corrections_pick(words: list[str], candidates: dict[str, list[str] | None]) -> list[str]:
    cutoff = search_setting("SEARCH_TYPO_CUTOFF")
    corrected = list(words)
    for index, word in enumerate(words):
        scored = sorted(
            {
                (difflib.SequenceMatcher(None, candidate, word).ratio(), candidate)
                for candidate in candidates.get(word) or []
            },
            reverse=True,
        )
        close = [candidate for ratio, candidate in scored if ratio >= cutoff]
        one_edit = [candidate for candidate in close if _one_edit(candidate, word)]
        if one_edit:
            close = one_edit
        else:
            close = [candidate for ratio, candidate in scored if ratio >= max(cutoff, scored[0][0] - TYPO_CLOSE_MARGIN)]
        if len(close) > 1:
            context = [other for other in words if other != word and not candidates.get(other)]
            close = _most_used(close, context)
        if close:
            corrected[index] = close[0]
    return corrected


def _one_edit(a: str, b: str) -> bool:
    """Whether ``b`` is ``a`` with one letter dropped, added or changed, or two neighbours swapped."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    same = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    if len(a) == len(b):
        swapped = a[same : same + 2] == b[same : same + 2][::-1]
        return a[same + 1 :] == b[same + 1 :] or (swapped and a[same + 2 :] == b[same + 2 :])
    longer, shorter = (a, b) if len(a) > len(b) else (b, a)
    return longer[same + 1 :] == shorter[same:]


def _most_used(candidates: list[str], context: list[str]) -> list[str]:
    """``candidates`` (closest first), the one most products have together with the words of
    ``context`` first, then the one most products have at all; ties keep their order."""
    context_terms = " & ".join(f"{word}:*" if len(word) >= PREFIX_MIN_LENGTH else word for word in context)
    count = "(SELECT count(*) FROM (SELECT 1 FROM search_productkeywords k WHERE {match} LIMIT %s) x)"
    alone = f"k.document @@ to_tsquery('{CONFIG}', c.word)"
    together = count.format(match=f"{alone} AND k.document @@ to_tsquery('{CONFIG}', %s)") if context_terms else "0"
    params: list[Any] = [context_terms, TYPO_COUNT_CAP] if context_terms else []
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.word, {together}, {count.format(match=alone)} FROM unnest(%s::text[]) AS c(word)",
            [*params, TYPO_COUNT_CAP, candidates],
        )
        counts = {word: (int(with_context), int(total)) for word, with_context, total in cursor.fetchall()}
    return sorted(candidates, key=lambda word: (-counts[word][0], -counts[word][1]))
