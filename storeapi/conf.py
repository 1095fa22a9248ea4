"""The store API's settings, each overridable as ``SNAPSHELF_<NAME>`` in the project settings."""

from typing import Any

from catalog.conf import AppSettings

DEFAULTS: dict[str, Any] = {
    # Requests per key (or per client address without a key), by key kind; DRF rate syntax. Public
    # keys: per key and client address, and at most public_ceiling per key from all addresses.
    "API_THROTTLE_RATES": {
        "public": "120/min",
        "read": "1200/min",
        "write": "1200/min",
        "anonymous": "30/min",
        "public_ceiling": "3000/min",
    },
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
    # Webhook bodies larger than this are refused (413) before they are read.
    "WEBHOOK_MAX_BYTES": 2 * 1024 * 1024,
    # A webhook whose platform timestamp (the payload's signed modification time; Shopify's
    # X-Shopify-Triggered-At for deletes) is older than this, or this far in the future, is
    # refused: a captured body cannot be replayed later under a new delivery id. 0: no window.
    "WEBHOOK_MAX_AGE_SECONDS": 86400,
    # Image URL fetches that have waited this long are sent to a worker again by the sweep.
    "IMAGE_FETCH_RETRY_AFTER_SECONDS": 120,
}

api_setting = AppSettings(DEFAULTS)


# drf-spectacular's settings for the API's schema. A project merges them into its own, so that the
# served schema (/api/v1/schema/) and `manage.py spectacular` give the same document:
#     SPECTACULAR_SETTINGS = {**storeapi.conf.SPECTACULAR_SETTINGS, "SWAGGER_UI_DIST": "SIDECAR", ...}
# (a plain dict, importable from a settings module; storeapi.checks warns when it is not merged).
SPECTACULAR_SETTINGS: dict[str, Any] = {
    "TITLE": "Snapshelf API",
    "DESCRIPTION": (
        "Catalog sync, visual and text search, and platform webhooks. Send an API key as "
        "`Authorization: Bearer <key>` or `X-Api-Key: <key>`. Public keys may search; read keys also read "
        'the catalog; write keys also change it. Errors are `{"error": {"code", "message", "details"}}`. '
        "Request bodies: files (product images, search photos) go as multipart/form-data; JSON bodies "
        "give an image by URL (product images) or as base64 (search photos)."
    ),
    # The schema's version; CHANGELOG.md says what changed between versions.
    "VERSION": "1.2.0",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Separate request and response components (ProductWriteRequest, Product): what a client
    # sends is not what it gets back, and generators need both.
    "COMPONENT_SPLIT_REQUEST": True,
    # The schema and docs views describe the API, not themselves.
    "SERVE_INCLUDE_SCHEMA": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "storeapi.schema.error_responses_add",
        "storeapi.schema.request_bodies_optional_when_several_kinds",
    ],
}
