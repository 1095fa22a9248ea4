"""The store API's settings, each overridable as ``SNAPSHELF_<NAME>`` in the project settings."""

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Requests per key (or per client address without a key), by key kind; DRF rate syntax.
    "API_THROTTLE_RATES": {"public": "120/min", "read": "1200/min", "write": "1200/min", "anonymous": "30/min"},
    # Allow POST /api/v1/search/ (and similar products) without a key.
    "API_ANONYMOUS_SEARCH": False,
    # Products per bulk upsert request.
    "API_BULK_MAX_PRODUCTS": 1000,
    # Page size of list endpoints (``limit`` may ask for up to API_MAX_PAGE_SIZE).
    "API_PAGE_SIZE": 50,
    "API_MAX_PAGE_SIZE": 500,
    # Results per search page (``limit`` may ask for up to API_SEARCH_MAX_LIMIT).
    "API_SEARCH_MAX_LIMIT": 100,
    # Webhook secrets: Shopify's app client secret and WooCommerce's per-webhook secret.
    # A list is accepted too, so that a secret can be rotated without losing deliveries.
    "SHOPIFY_WEBHOOK_SECRET": "",
    "WOOCOMMERCE_WEBHOOK_SECRET": "",
    # Image URL fetches that have waited this long are sent to a worker again by the sweep.
    "IMAGE_FETCH_RETRY_AFTER_SECONDS": 120,
}


def api_setting(name: str) -> Any:
    return getattr(settings, f"SNAPSHELF_{name}", DEFAULTS[name])
