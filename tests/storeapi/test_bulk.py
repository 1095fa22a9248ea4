"""Bulk upsert: up to 1,000 products per request, a result for every row."""

from __future__ import annotations

import time

import pytest

from catalog.models import Product
from storeapi.models import ImageFetch

pytestmark = pytest.mark.django_db

BULK = "/api/v1/products/bulk/"


def test_every_row_gets_a_result(api):
    api.post(BULK, {"products": [{"sku": "B-2", "title": "Bowl", "price": "5"}]}, format="json")
    rows = [
        {"sku": "B-1", "title": "Mug", "price": "9.50", "category": "Home > Kitchen", "attributes": {"colour": "red"}},
        {"sku": "B-2", "title": "Bowl", "price": "5"},  # unchanged
        {"sku": "B-3", "title": "Plate", "price": "-3"},  # bad price
        {"sku": "", "title": "No SKU"},
        "not an object",
        {"sku": "B-4", "title": "Cup", "is_active": "yes"},
        {"sku": "B-5", "title": "Jug", "currency": "euro"},  # the model's validation
        {"sku": "B-6", "title": "Vase", "images": ["/etc/passwd"]},
    ]
    response = api.post(BULK, {"products": rows}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert [r["status"] for r in body["results"]] == [
        "created", "unchanged", "failed", "failed", "failed", "failed", "failed", "failed",
    ]  # fmt: skip
    assert [r["index"] for r in body["results"]] == list(range(8))
    results = body["results"]
    assert results[0]["id"] == Product.objects.get(sku="B-1").pk and results[0]["error"] is None
    assert "price" in results[2]["error"] and results[2]["sku"] == "B-3" and results[2]["id"] is None
    assert "sku is empty" in results[3]["error"]
    assert "JSON object" in results[4]["error"]
    assert "is_active" in results[5]["error"]
    assert "currency" in results[6]["error"]
    assert "not an http(s) URL" in results[7]["error"]
    assert body["summary"] == {"created": 1, "updated": 0, "unchanged": 1, "failed": 6, "images_queued": 0}
    assert not Product.objects.filter(sku__in=["B-3", "B-5", "B-6"]).exists()
    assert Product.objects.get(sku="B-1").category.full_path == "Home > Kitchen"


def test_image_urls_are_queued_not_fetched(api):
    rows = [
        {"sku": "I-1", "title": "Lamp", "images": ["https://cdn.example/lamp.jpg", "https://cdn.example/lamp2.jpg"]},
        {"sku": "I-2", "title": "Rug", "images": [{"url": "https://cdn.example/rug.jpg", "alt_text": "Rug"}]},
    ]
    body = api.post(BULK, {"products": rows}, format="json").json()
    assert [r["images_queued"] for r in body["results"]] == [2, 1]
    assert ImageFetch.objects.get(url="https://cdn.example/rug.jpg").alt_text == "Rug"
    again = api.post(BULK, {"products": rows}, format="json").json()
    assert again["summary"]["images_queued"] == 0 and again["summary"]["unchanged"] == 2


def test_request_limits(api, settings):
    assert api.post(BULK, {"products": []}, format="json").status_code == 400
    assert api.post(BULK, {"products": "x"}, format="json").status_code == 400
    settings.SNAPSHELF_API_BULK_MAX_PRODUCTS = 3
    response = api.post(BULK, {"products": [{"sku": str(n), "title": "t"} for n in range(4)]}, format="json")
    assert response.status_code == 400 and "At most 3" in str(response.json()["error"]["details"])


@pytest.mark.slow
def test_a_thousand_products_in_one_request_then_an_incremental_sync(api):
    rows = [
        {"sku": f"K-{n:04d}", "title": f"Product {n}", "price": f"{n % 90 + 1}.00", "category": f"Cat {n % 10}",
         "stock": n % 7, "attributes": {"n": str(n)}}
        for n in range(1000)
    ]  # fmt: skip
    started = time.monotonic()
    body = api.post(BULK, {"products": rows}, format="json").json()
    elapsed = time.monotonic() - started
    assert body["summary"]["created"] == 1000, body["summary"]
    assert elapsed < 60, f"1,000 products took {elapsed:.1f}s"
    # Walk every product, then sync only what changed since.
    seen, url, last = 0, "/api/v1/products/?limit=500", None
    while url:
        page = api.get(url).json()
        seen += len(page["results"])
        last = page["results"][-1]["updated_at"] if page["results"] else last
        url = page["next"]
    assert seen == 1000
    rows[5]["price"] = "999.00"
    again = api.post(BULK, {"products": rows}, format="json").json()["summary"]
    assert again["updated"] == 1 and again["unchanged"] == 999
    changed = api.get("/api/v1/products/", {"updated_after": last}).json()["results"]
    assert [p["sku"] for p in changed] == ["K-0005"]


def test_search_only_image_urls_are_queued_with_their_flag(api):
    cdn = "https://cdn.example"
    rows = [
        {"sku": "S-1", "title": "Lamp", "images": [f"{cdn}/l.jpg"], "search_images": [f"{cdn}/shelf.jpg"]},
        {"sku": "S-2", "title": "Rug", "search_images": [f"{cdn}/floor2.jpg"],
         "images": [{"url": f"{cdn}/r.jpg"}, {"url": f"{cdn}/floor.jpg", "search_only": True}]},
    ]  # fmt: skip
    body = api.post(BULK, {"products": rows}, format="json").json()
    assert [r["images_queued"] for r in body["results"]] == [2, 3]
    flags = dict(ImageFetch.objects.values_list("url", "search_only"))
    assert flags == {
        "https://cdn.example/l.jpg": False, "https://cdn.example/shelf.jpg": True, "https://cdn.example/r.jpg": False,
        "https://cdn.example/floor.jpg": True, "https://cdn.example/floor2.jpg": True,
    }  # fmt: skip
