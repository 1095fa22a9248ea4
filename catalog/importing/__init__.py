"""Catalog import: readers turn each file format into ``ImportRow`` records, the runner upserts them."""
