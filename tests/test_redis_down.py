"""With Redis unreachable, the storefront and the API keep answering from the database
(config/failsafe_cache.py): pages that read the cache, photo search and its pages, the API key
lookup, and throttles that let requests through with a log line."""

from __future__ import annotations

import logging
import time

import pytest
from django.core.cache import cache, caches
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from catalog.models import Category, Product
from config.embedded_services import EmbeddedRedis
from config.failsafe_cache import FailSafeRedisCache
from storeapi.services.api_keys import api_key_create
from tests.search.search_fixtures import demo_photo_bytes
from tests.storeapi.conftest import client_with

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(demo_media_root):
    """The demo catalog's files (tests/conftest.py's demo_index), not a fresh folder."""
    return demo_media_root


def dead_redis_caches(settings_caches: dict, tmp_path) -> dict:
    """The project's cache settings with the default cache pointed at a socket nobody serves."""
    default = {**settings_caches["default"], "LOCATION": f"unix://{tmp_path}/no-redis.sock?db=0"}
    return {**settings_caches, "default": default}


@pytest.fixture
def redis_down(settings, tmp_path, demo_index):
    settings.CACHES = dead_redis_caches(settings.CACHES, tmp_path)
    assert isinstance(caches["default"], FailSafeRedisCache)
    yield


def test_the_storefront_answers_from_the_database(client, redis_down, caplog):
    caplog.set_level(logging.WARNING, logger="config.failsafe_cache")
    home = client.get(reverse("search:home"))
    assert home.status_code == 200 and len(home.context["products"]) == 24
    words = client.get(reverse("search:results"), {"q": "mug", "colour": "red"})
    assert words.status_code == 200
    assert words.context["result"].hits[0].product.sku == "DEMO-MUG-RED"
    kitchen = Category.objects.get(name="Kitchen")
    by_category = client.get(reverse("search:results"), {"category": kitchen.pk})
    assert by_category.status_code == 200 and by_category.context["result"].hits
    product = Product.objects.get(sku="DEMO-MUG-RED")
    assert client.get(product.get_absolute_url()).status_code == 200
    assert any("answering as a miss" in record.getMessage() for record in caplog.records)


def test_photo_search_and_its_pages_work_without_redis(client, redis_down):
    photo = SimpleUploadedFile("mug.png", demo_photo_bytes("DEMO-MUG-RED"), content_type="image/png")
    posted = client.post(reverse("search:results"), {"photo": photo})
    assert posted.status_code == 303
    first = client.get(posted["Location"])
    assert first.status_code == 200 and first.context["result"].hits[0].product.sku == "DEMO-MUG-RED"
    second = client.get(posted["Location"] + "&page=2")
    assert second.status_code == 200 and second.context["page"] == 2


def test_the_api_finds_keys_in_the_database_and_does_not_throttle(redis_down, settings, caplog):
    settings.SNAPSHELF_API_THROTTLE_RATES = {"public": "1/min", "read": "1/min", "write": "1/min", "anonymous": "1/min"}
    caplog.set_level(logging.WARNING, logger="storeapi.throttling")
    reader = client_with(api_key_create(name="Reporting", kind="read")[1])
    for _ in range(3):  # over the rate: Redis cannot count, so the requests go through
        response = reader.get("/api/v1/products/", {"sku": "DEMO-MUG-RED"})
        assert response.status_code == 200
        assert [item["sku"] for item in response.json()["results"]] == ["DEMO-MUG-RED"]
    assert any("request let through" in record.getMessage() for record in caplog.records)
    shop = client_with(api_key_create(name="Shop", kind="public")[1])
    photo = SimpleUploadedFile("cap.png", demo_photo_bytes("DEMO-CAP-BLUE"), content_type="image/png")
    found = shop.post("/api/v1/search/", {"image": photo, "limit": 2}, format="multipart")
    assert found.status_code == 200 and found.json()["results"][0]["product"]["sku"] == "DEMO-CAP-BLUE"
    following = shop.post("/api/v1/search/", {"cursor": found.json()["next_cursor"], "limit": 2}, format="json")
    assert following.status_code == 200 and len(following.json()["results"]) == 2
    assert client_with("ss_read_not-a-key").get("/api/v1/products/").status_code == 401


def test_the_cache_tries_redis_again_after_an_interval(settings, tmp_path, monkeypatch):
    """A real redis-server stopped and started again: misses while it is down, hits after."""
    monkeypatch.setattr(FailSafeRedisCache, "RETRY_AFTER_SECONDS", 0.5)
    server = EmbeddedRedis(tmp_path / "redis")
    settings.CACHES = {**settings.CACHES, "default": {**settings.CACHES["default"], "LOCATION": server.start()}}
    try:
        cache.set("failsafe", 1)
        assert cache.get("failsafe") == 1
        server.stop()
        assert cache.get("failsafe") is None and cache.add("failsafe", 2) is False
        assert cache.set_many({"a": 1, "b": 2}) == ["a", "b"]
        server.start()
        assert cache.get("failsafe", "skipped") == "skipped"  # within the interval: Redis not asked
        time.sleep(0.6)
        cache.set("failsafe", 3)
        assert cache.get("failsafe") == 3
    finally:
        server.stop_and_remove()
