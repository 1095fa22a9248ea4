"""The search app's settings, each overridable as ``SNAPSHELF_<NAME>`` in the project settings."""

from typing import Any

from catalog.conf import AppSettings

DEFAULTS: dict[str, Any] = {
    # The model the index starts with on a new install (later switches: `manage.py search_model activate`).
    "SEARCH_MODEL": "offline",
    # Indexing pipeline.
    "INDEX_BATCH_SIZE": 16,
    # Product texts per claim: a text costs a fraction of an image, so claims are larger.
    "INDEX_TEXT_BATCH_SIZE": 64,
    "INDEX_CLAIM_TIMEOUT_SECONDS": 600,
    "INDEX_MAX_ATTEMPTS": 5,
    "INDEX_RETRY_BACKOFF_SECONDS": 30,
    "INDEX_TASK_TIME_BUDGET_SECONDS": 120,
    "INDEX_SWEEP_INTERVAL_SECONDS": 60,
    # A model being built replaces the active one only when at least this share of its image
    # vectors, and of its text vectors, are ready (the rest failed): a model whose rows mostly
    # fail must not replace a working index.
    "INDEX_ACTIVATE_MIN_READY": 0.99,
    # HNSW index build.
    "HNSW_M": 16,
    "HNSW_EF_CONSTRUCTION": 128,
    # What new HNSW indexes are built on: "halfvec" (half precision: half the size of "vector" at
    # the same recall, docs/adr/0006), "vector" (single precision) or "bit" (binary quantisation,
    # 1/32 of the size, candidates re-ranked by full-precision distance; docs/adr/0010). Exact
    # scans always read the full vectors. Recorded per model when its indexes are built.
    "INDEX_PRECISION": "halfvec",
    # Per model name, over INDEX_PRECISION: {"clip": "bit"}.
    "INDEX_PRECISION_BY_MODEL": {},
    # Deprecated (INDEX_PRECISION): True/False chose halfvec/vector where INDEX_PRECISION is unset.
    "HALFVEC_INDEX": None,
    "INDEX_BUILD_MEMORY_MB": 1024,
    # Embedding models by name: {"class": dotted path of an Embedder, **constructor kwargs}.
    # Names set in the project are merged over these, so overriding "clip" keeps "offline".
    "EMBEDDING_MODELS": {
        "offline": {"class": "search.embedders.offline.OfflineEmbedder"},
        "clip": {"class": "search.embedders.clip.ClipEmbedder", "checkpoint": "openai/clip-vit-base-patch32"},
    },
    # Images or texts per forward pass.
    "EMBEDDING_BATCH_SIZE": 16,
    # torch intra-op threads per process. 0 (automatic): a web process takes its share of the
    # cores, cores // WEB_CONCURRENCY (the web processes gunicorn starts; at least 1), so web
    # processes x threads <= cores; a Celery worker process keeps torch's default (every core).
    # See search.embedders.registry.torch_threads.
    "TORCH_THREADS": 0,
    # "auto" (CUDA when available, else CPU), "cpu" or "cuda".
    "EMBEDDING_DEVICE": "auto",
    # Search. A filtered vector query whose filter the planner expects to keep at most this many
    # vector rows is answered by an exact scan (cheap there, and HNSW would drop rows).
    "SEARCH_EXACT_SCAN_MAX_ROWS": 5000,
    # ... or at most this share of the model's vectors (of the kind searched; the planner's
    # statistics, not a count). An index scan's cost grows with the share a filter leaves out,
    # an exact scan's with the rows it keeps: at 1,000,000 vectors a 1% filter (10,000 rows) took
    # about as long exact as through the index, and was complete (recall@10 1.000 against 0.84); at
    # 100,000 a 10% filter (10,000 rows too) was 2.5-5x faster through the index (docs/adr/0005).
    # 0: the row count alone decides.
    "SEARCH_EXACT_SCAN_MAX_SHARE": 0.02,
    # HNSW candidate list per query (pgvector's hnsw.ef_search); raised to the requested limit.
    # 40 (pgvector's default) gave recall@10 0.87 on 100k synthetic 512-d vectors here, 100 gave 0.99.
    "SEARCH_EF_SEARCH": 100,
    # pgvector's cap on rows one iterative index scan visits before giving up (its default).
    "SEARCH_MAX_SCAN_TUPLES": 20000,
    # Rows a "bit" index gives per query, re-ranked by their full-precision cosine distance
    # (at least 4 x the rows asked for; the scan's ef_search follows).
    "SEARCH_BIT_RERANK_CANDIDATES": 200,
    # The same for "halfvec" indexes; 0: their half-precision order and distances are kept.
    "SEARCH_HALFVEC_RERANK_CANDIDATES": 0,
    # Prepare unfiltered nearest-neighbour statements once per database connection (psycopg).
    # False behind a pooler that cannot carry prepared statements (PgBouncer < 1.21 in
    # transaction mode).
    "SEARCH_PREPARED_STATEMENTS": True,
    # A photo search ranks each product by the mean distance of its best this many images (all it
    # has when fewer; 1: its best image alone). Several close shop photos of a product then count
    # for more than one lucky one (docs/quality.md).
    "SEARCH_PHOTO_BEST_IMAGES": 3,
    # Tuning (search_model tune): this share of each product's search-only shop photos (drawn with
    # the tune's seed) is kept out of training, and the gate asks them as shoppers' photos (with
    # them not counted as catalog images) for the active model and the tuned one. Fewer held-out
    # photos than SEARCH_TUNE_HOLD_OUT_MIN: none are held out, and the gate asks shopper-like
    # copies of catalog photos instead.
    "SEARCH_TUNE_HOLD_OUT_SHARE": 0.2,
    "SEARCH_TUNE_HOLD_OUT_MIN": 20,
    # Reciprocal rank fusion constant: score = sum over legs of 1 / (k + rank).
    "SEARCH_RRF_K": 60,
    # "No exact match" (a notice above the nearest products) when a photo's best distance is beyond
    # what this share of real matches stays within: measured per model on shopper-like copies of
    # catalog photos and on search-only shop photos (search/services/no_match.py).
    "SEARCH_NO_MATCH_KEEP_SHARE": 0.995,
    # Catalog photos sampled for a calibration (each copied and embedded once; in a catalog with
    # fewer photos, each copied up to 4 times). The threshold, the 99.5% point, rests on the
    # hardest 0.5% of copies: of 600 fashion copies the 4th largest distance, and the few largest
    # lie 0.02-0.03 apart, so one copy that the freshly built index answered otherwise moved it
    # from 0.721 to 0.749. 1,200 copies halve that (~40 s for the fashion catalog here); 300 and
    # 600 are replayed in docs/quality.md.
    "SEARCH_NO_MATCH_SAMPLE": 1200,
    # Fewer positives than this: no threshold, nothing flagged, until the catalog grows.
    "SEARCH_NO_MATCH_MIN_PHOTOS": 20,
    # With this many search-only shop photos in the sample, the threshold keeps KEEP_SHARE of them
    # alone (real photos), not of the shopper-like copies (docs/quality.md).
    "SEARCH_NO_MATCH_MIN_SHOP_PHOTOS": 100,
    # Recalibrate when the model's image vectors have grown by this share since the last time.
    "SEARCH_NO_MATCH_RECALIBRATE_CHANGE": 0.2,
    # Words that match nothing in the catalog are corrected to the closest catalog word at or
    # above this similarity (difflib ratio, 0-1), chosen among the catalog words pg_trgm finds
    # nearest. 0.75 corrected 94% of one-edit typos of fashion catalog words (ADR 0005).
    "SEARCH_TYPO_CUTOFF": 0.75,
    # How long the storefront's colour choices stay in the cache (search.selectors.stats_cached:
    # the one staleness rule of the request path's caches).
    "SEARCH_STATS_TTL_SECONDS": 300,
    # How long a text query's vector stays in Django's cache, keyed by the model's model_id and the
    # words (search/services/query_texts.py): it never goes stale, so this only bounds the cache's
    # memory (about 1.6 KB per distinct query for the offline preset's 384-d text vectors). 0: off.
    "SEARCH_TEXT_VECTOR_TTL_SECONDS": 600,
    # How long a photo query's vector is kept (paging, filters, crop) under its token.
    "SEARCH_QUERY_TTL_SECONDS": 3600,
    # Keep the (downscaled) query photo with its vector, so result pages can show it without JS.
    "SEARCH_KEEP_QUERY_PHOTO": False,
    # Deepest result a query may page to (offset + limit).
    "SEARCH_MAX_DEPTH": 1000,
    # Shoppers' query photos: their own caps, below the catalog's (IMAGE_MAX_BYTES / IMAGE_MAX_PIXELS):
    # a photo is decoded and embedded on the web server for each search. The storefront's script
    # sends 640 px; a 12 MP phone photo passes. Bodies larger than the byte cap (plus the form's
    # other fields) are refused from their Content-Length, before they are read.
    "SEARCH_QUERY_IMAGE_MAX_BYTES": 10 * 1024 * 1024,
    "SEARCH_QUERY_IMAGE_MAX_PIXELS": 12_000_000,
    # Attribute filters one search may combine (each is a JSON containment test per product).
    "SEARCH_MAX_ATTRIBUTE_FILTERS": 10,
    # The most vector rows one leg reads while looking for enough distinct products (a product
    # with many images could otherwise make a leg double its depth again and again).
    "SEARCH_VECTOR_MAX_ROWS": 4000,
    # Read replicas for search reads (search/replicas.py): database aliases, streaming standbys of
    # "default". Empty: searches read the primary. The project fills it from
    # SNAPSHELF_SEARCH_REPLICA_URLS (aliases search_replica_1, ...).
    "SEARCH_DATABASES": [],
    # A replica further behind the primary than this is skipped until it catches up.
    "SEARCH_REPLICA_MAX_LAG_SECONDS": 5.0,
    # How long a replica's checked state (lag, or down) is kept in the cache before it is asked
    # again: searches read data at most MAX_LAG + CHECK seconds old.
    "SEARCH_REPLICA_CHECK_SECONDS": 5.0,
    # Storefront searches per client address: a new photo (decoded and embedded on the web server),
    # and any other search page. "20/m", "5/s", "1000/h"; "0" turns a limit off.
    "STOREFRONT_PHOTO_RATE": "20/m",
    "STOREFRONT_WORDS_RATE": "120/m",
    # Proxies of this deployment in front of Django, each appending to X-Forwarded-For: the client
    # is the address this many places from the right. 0: X-Forwarded-For is ignored (REMOTE_ADDR).
    "TRUSTED_PROXY_COUNT": 0,
}

search_setting = AppSettings(DEFAULTS)
