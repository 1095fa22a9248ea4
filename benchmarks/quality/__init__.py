"""The quality benchmark: right answers through the search service, on real product photos.

    python -m benchmarks.quality [--json PATH] [--fashion-limit N] [--split val|test] ...

Each data set of ../shared/datasets is imported into a fresh database (its own throwaway embedded
Postgres and Redis, in a child process) through the import path, indexed through the index queue,
and queried through ``product_search`` / ``products_similar`` exactly as the storefront and the API
do. See docs/quality.md for what each figure means and the figures measured.

- ``datasets``: the data sets read from disk and the queries built from them (no Django);
- ``baselines``: colour histogram and perceptual hash over the same images (numpy);
- ``service``: catalogs imported and indexed, queries through the service (Django);
- ``run_set``: one data set in one process; ``__main__``: every set, the table and the JSON.
"""
