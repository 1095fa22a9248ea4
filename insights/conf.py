"""The insights app's settings, each overridable as ``SNAPSHELF_<NAME>`` in the project settings."""

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Searches and opened results older than this are deleted (beat: insights.tasks.retention_enforce).
    "INSIGHTS_RETENTION_DAYS": 90,
    # Count distinct visitors per day with a salted hash of address and browser whose salt is made
    # each day and kept only in the cache (never in the database): yesterday's hashes cannot be
    # linked to today's, nor turned back into an address once the salt is gone.
    "INSIGHTS_COUNT_VISITORS": True,
    # The request header with the shopper's address ("REMOTE_ADDR", or e.g. "HTTP_X_REAL_IP"
    # behind a proxy that sets it). Only hashed, never stored.
    "INSIGHTS_VISITOR_ADDRESS_HEADER": "REMOTE_ADDR",
    # Let shoppers' clicks tune the model (search_model tune): a photo search's vector (never the
    # photo) is kept with the result the shopper opened, as a pair "this photo shows that product",
    # deleted with the searches after INSIGHTS_RETENTION_DAYS. Off unless the merchant opts in.
    "INSIGHTS_TUNE_FROM_CLICKS": False,
    # Self-test: catalog photos per run (one per product), and its default seed.
    "INSIGHTS_SELF_TEST_SAMPLE": 200,
    # Drift watch: a model's first weeks are its reference; the last days are compared with them.
    "INSIGHTS_DRIFT_BASELINE_DAYS": 14,
    "INSIGHTS_DRIFT_RECENT_DAYS": 7,
    # Fewer photo searches than this in either window: too few to say anything.
    "INSIGHTS_DRIFT_MIN_QUERIES": 30,
    # Bounds: flagged when the median best distance of photo searches grows by this share of the
    # reference, the no-close-match share by this many points, the share of far-off products by this many.
    "INSIGHTS_DRIFT_DISTANCE_RISE": 0.15,
    "INSIGHTS_DRIFT_NO_MATCH_RISE": 0.10,
    "INSIGHTS_DRIFT_FAR_PRODUCTS_RISE": 0.05,
    # Products sampled each day to measure the share that is far from every other product.
    "INSIGHTS_DRIFT_PRODUCT_SAMPLE": 300,
}


def insights_setting(name: str) -> Any:
    return getattr(settings, f"SNAPSHELF_{name}", DEFAULTS[name])
