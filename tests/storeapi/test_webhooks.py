"""Shopify and WooCommerce product webhooks, signed as the platforms sign them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.models import Product
from storeapi.models import ExternalProduct, ImageFetch, WebhookDelivery
from storeapi.services.image_fetches import image_fetches_process_pending

pytestmark = pytest.mark.django_db

SHOPIFY_SECRET = "shpss_test_app_secret"
WOO_SECRET = "woo webhook secret"


@pytest.fixture(autouse=True)
def secrets(settings):
    settings.SNAPSHELF_SHOPIFY_WEBHOOK_SECRET = SHOPIFY_SECRET
    settings.SNAPSHELF_WOOCOMMERCE_WEBHOOK_SECRET = WOO_SECRET


# Payload times are recent: older ones are outside the freshness window (WEBHOOK_MAX_AGE_SECONDS).
START = timezone.now().replace(microsecond=0) - timedelta(hours=6)


def at(hours: float, *, naive: bool = False) -> str:
    """A payload time ``hours`` after START: ISO 8601 with its offset, or naive UTC (WooCommerce's _gmt)."""
    moment = START + timedelta(hours=hours)
    return moment.replace(tzinfo=None).isoformat() if naive else moment.isoformat()


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def shopify_product(**overrides) -> dict:
    """A products/create payload in the REST Admin API's product format."""
    product = {
        "id": 788032119674292900,
        "title": "Example T-Shirt",
        "body_html": "<p>A <strong>soft</strong> cotton tee &amp; more</p>",
        "vendor": "Acme",
        "product_type": "Shirts",
        "created_at": "2024-05-01T10:00:00-04:00",
        "handle": "example-t-shirt",
        "updated_at": at(0),
        "published_at": "2024-05-01T10:00:00-04:00",
        "status": "active",
        "tags": "summer, cotton",
        "variants": [
            {"id": 642667041472713922, "product_id": 788032119674292900, "title": "Small", "price": "19.99",
             "sku": "EX-TEE-S", "position": 1, "inventory_quantity": 5, "option1": "Small"},
            {"id": 757650484644203962, "product_id": 788032119674292900, "title": "Medium", "price": "19.99",
             "sku": "EX-TEE-M", "position": 2, "inventory_quantity": 3, "option1": "Medium"},
        ],
        "options": [{"id": 1, "product_id": 788032119674292900, "name": "Size", "position": 1, "values": ["Small"]}],
        "images": [
            {"id": 2, "product_id": 788032119674292900, "position": 2, "src": "https://cdn.shopify.com/back.png",
             "alt": "Back", "width": 64, "height": 48},
            {"id": 1, "product_id": 788032119674292900, "position": 1, "src": "https://cdn.shopify.com/front.png",
             "alt": "Front", "width": 64, "height": 48},
        ],
        "image": None,
    }  # fmt: skip
    return {**product, **overrides}


def woo_product(**overrides) -> dict:
    """A product.created payload in the WooCommerce REST API v3 product format."""
    product = {
        "id": 794,
        "name": "Premium Quality",
        "slug": "premium-quality",
        "permalink": "https://woo.example/product/premium-quality/",
        "date_modified_gmt": at(0, naive=True),
        "type": "simple",
        "status": "publish",
        "description": "<p>Pellentesque habitant morbi tristique.</p>",
        "short_description": "<p>Short.</p>",
        "sku": "WOO-PQ",
        "price": "21.99",
        "regular_price": "21.99",
        "sale_price": "",
        "stock_quantity": 7,
        "stock_status": "instock",
        "categories": [{"id": 9, "name": "Clothing", "slug": "clothing"}, {"id": 14, "name": "T-shirts", "slug": "t"}],
        "tags": [{"id": 1, "name": "cotton", "slug": "cotton"}],
        "images": [{"id": 792, "src": "https://woo.example/wp-content/uploads/front.jpg", "name": "", "alt": "Front"}],
        "attributes": [{"id": 1, "name": "Color", "position": 0, "visible": True, "options": ["Black"]}],
    }
    return {**product, **overrides}


def post_shopify(client, topic: str, payload: dict, *, delivery: str = "d-1", secret: str = SHOPIFY_SECRET):
    body = json.dumps(payload).encode()
    return client.post(
        "/api/v1/webhooks/shopify/", body, content_type="application/json",
        HTTP_X_SHOPIFY_HMAC_SHA256=sign(secret, body), HTTP_X_SHOPIFY_TOPIC=topic,
        HTTP_X_SHOPIFY_WEBHOOK_ID=delivery, HTTP_X_SHOPIFY_SHOP_DOMAIN="acme.myshopify.com",
    )  # fmt: skip


def post_woo(client, topic: str, payload: dict, *, delivery: str = "w-1", secret: str = WOO_SECRET):
    body = json.dumps(payload).encode()
    return client.post(
        "/api/v1/webhooks/woocommerce/", body, content_type="application/json",
        HTTP_X_WC_WEBHOOK_SIGNATURE=sign(secret, body), HTTP_X_WC_WEBHOOK_TOPIC=topic,
        HTTP_X_WC_WEBHOOK_DELIVERY_ID=delivery, HTTP_X_WC_WEBHOOK_SOURCE="https://woo.example/",
    )  # fmt: skip


def test_shopify_create_update_delete(client):
    response = post_shopify(client, "products/create", shopify_product())
    assert response.status_code == 200 and response.json() == {"status": "created"}
    product = Product.objects.get(sku="EX-TEE-S")
    assert product.title == "Example T-Shirt" and product.brand == "Acme"
    assert product.description == "A  soft  cotton tee & more"
    assert str(product.price) == "19.99" and product.stock == 8 and product.in_stock
    assert product.category.full_path == "Shirts" and product.attributes == {"tags": ["summer", "cotton"]}
    assert product.url == "https://acme.myshopify.com/products/example-t-shirt"
    fetches = list(ImageFetch.objects.filter(product=product).order_by("position"))
    assert [(f.url, f.alt_text, f.position) for f in fetches] == [
        ("https://cdn.shopify.com/front.png", "Front", 0),
        ("https://cdn.shopify.com/back.png", "Back", 1),
    ]
    updated = shopify_product(title="Renamed tee", updated_at=at(1), status="draft")
    assert post_shopify(client, "products/update", updated, delivery="d-2").json() == {"status": "updated"}
    product.refresh_from_db()
    assert product.title == "Renamed tee" and not product.is_active
    deleted = post_shopify(client, "products/delete", {"id": 788032119674292900}, delivery="d-3")
    assert deleted.json() == {"status": "deleted"}
    assert not Product.objects.filter(sku="EX-TEE-S").exists()
    again = post_shopify(client, "products/delete", {"id": 788032119674292900}, delivery="d-4")
    assert again.json() == {"status": "ignored"}


def test_same_delivery_twice_is_harmless(client):
    assert post_shopify(client, "products/create", shopify_product()).json()["status"] == "created"
    assert post_shopify(client, "products/create", shopify_product()).json()["status"] == "duplicate"
    # A redelivery with a new id (or none) changes nothing either.
    assert post_shopify(client, "products/update", shopify_product(), delivery="d-9").json()["status"] == "unchanged"
    assert Product.objects.count() == 1 and ImageFetch.objects.count() == 2
    assert WebhookDelivery.objects.count() == 2


def test_an_older_update_arriving_late_is_skipped(client):
    post_shopify(client, "products/create", shopify_product(updated_at=at(2)))
    late = shopify_product(title="Old title", updated_at=at(-1))
    assert post_shopify(client, "products/update", late, delivery="d-2").json() == {"status": "stale"}
    assert Product.objects.get().title == "Example T-Shirt"


def test_images_the_platform_dropped_are_removed(client, image_server, settings):
    settings.SNAPSHELF_IMAGE_URL_ALLOW_PRIVATE = True
    settings.SNAPSHELF_IMAGE_URL_PORTS = []  # the test server listens on a random port
    images = [{"id": 1, "position": 1, "src": image_server.url("red.png"), "alt": "Red"},
              {"id": 2, "position": 2, "src": image_server.url("blue.png"), "alt": "Blue"}]  # fmt: skip
    post_shopify(client, "products/create", shopify_product(images=images))
    assert image_fetches_process_pending() == 2
    product = Product.objects.get()
    assert sorted(product.images.values_list("alt_text", flat=True)) == ["Blue", "Red"]
    post_shopify(client, "products/update", shopify_product(images=images[:1]), delivery="d-2")
    assert list(product.images.values_list("alt_text", flat=True)) == ["Red"]


def test_bad_signature_is_401_and_logged(client, caplog):
    with caplog.at_level(logging.WARNING, logger="storeapi.views.webhooks"):
        response = post_shopify(client, "products/create", shopify_product(), secret="wrong")
    assert response.status_code == 401 and response.json()["error"]["code"] == "bad_signature"
    assert "rejected a shopify webhook" in caplog.text
    body = json.dumps(woo_product()).encode()
    missing = client.post("/api/v1/webhooks/woocommerce/", body, content_type="application/json",
                          HTTP_X_WC_WEBHOOK_TOPIC="product.created")  # fmt: skip
    assert missing.status_code == 401
    assert not Product.objects.exists()


def test_signature_covers_the_raw_body(client):
    """Re-serialising the JSON would break the signature: the raw bytes are checked."""
    body = b'{"id": 5,  "title": "Spaced",   "variants": []}'
    response = client.post(
        "/api/v1/webhooks/shopify/", body, content_type="application/json",
        HTTP_X_SHOPIFY_HMAC_SHA256=sign(SHOPIFY_SECRET, body), HTTP_X_SHOPIFY_TOPIC="products/create",
    )  # fmt: skip
    assert response.json() == {"status": "created"} and Product.objects.get().sku == "shopify-5"


def test_unset_secret_rejects_everything(client, settings):
    settings.SNAPSHELF_SHOPIFY_WEBHOOK_SECRET = ""
    body = b"{}"
    response = client.post(
        "/api/v1/webhooks/shopify/", body, content_type="application/json",
        HTTP_X_SHOPIFY_HMAC_SHA256=sign("", body), HTTP_X_SHOPIFY_TOPIC="products/create",
    )  # fmt: skip
    assert response.status_code == 401


def test_rotated_secrets(client, settings):
    settings.SNAPSHELF_SHOPIFY_WEBHOOK_SECRET = ["new secret", SHOPIFY_SECRET]
    assert post_shopify(client, "products/create", shopify_product()).status_code == 200


def test_woocommerce_create_update_delete(client):
    assert post_woo(client, "product.created", woo_product()).json() == {"status": "created"}
    product = Product.objects.get(sku="WOO-PQ")
    assert product.title == "Premium Quality" and product.description == "Pellentesque habitant morbi tristique."
    assert str(product.price) == "21.99" and product.stock == 7 and product.in_stock
    assert product.category.full_path == "Clothing"
    assert product.attributes == {"color": "Black", "tags": ["cotton"]}
    assert product.url == "https://woo.example/product/premium-quality/"
    assert ImageFetch.objects.get(product=product).alt_text == "Front"
    update = woo_product(stock_status="outofstock", stock_quantity=0, date_modified_gmt=at(1, naive=True))
    assert post_woo(client, "product.updated", update, delivery="w-2").json() == {"status": "updated"}
    product.refresh_from_db()
    assert not product.in_stock and product.stock == 0
    assert post_woo(client, "product.updated", update, delivery="w-2").json() == {"status": "duplicate"}
    assert post_woo(client, "product.deleted", {"id": 794}, delivery="w-3").json() == {"status": "deleted"}
    assert not Product.objects.exists() and ExternalProduct.objects.get().product is None  # the tombstone


def test_woocommerce_ping_unknown_topics_and_bad_payloads(client):
    ping = client.post("/api/v1/webhooks/woocommerce/", b"webhook_id=12",
                       content_type="application/x-www-form-urlencoded")  # fmt: skip
    assert ping.status_code == 200 and ping.json()["status"] == "ignored"
    assert post_woo(client, "order.created", {"id": 1}).json()["status"] == "ignored"
    assert post_woo(client, "product.created", woo_product(name=""), delivery="w-5").json() == {
        "status": "rejected", "reason": "the product has no title",
    }  # fmt: skip
    assert post_woo(client, "product.created", woo_product(price="lots"), delivery="w-6").json()["status"] == "rejected"
    assert post_woo(client, "product.created", {"name": "no id"}, delivery="w-7").json()["status"] == "rejected"
    body = b"[1, 2]"
    listed = client.post(
        "/api/v1/webhooks/woocommerce/", body, content_type="application/json",
        HTTP_X_WC_WEBHOOK_SIGNATURE=sign(WOO_SECRET, body), HTTP_X_WC_WEBHOOK_TOPIC="product.created",
    )  # fmt: skip
    assert listed.json()["status"] == "rejected"
    assert not Product.objects.exists() and not WebhookDelivery.objects.exists()


def test_a_captured_body_replayed_later_under_a_new_delivery_id_is_refused(client, settings):
    settings.SNAPSHELF_WEBHOOK_MAX_AGE_SECONDS = 3600
    old = shopify_product(updated_at=(timezone.now() - timedelta(hours=2)).isoformat())
    response = post_shopify(client, "products/update", old, delivery="replayed-1")
    assert response.status_code == 200 and response.json()["status"] == "rejected"
    assert "3600 seconds from now" in response.json()["reason"]
    future = shopify_product(updated_at=(timezone.now() + timedelta(hours=2)).isoformat())
    assert post_shopify(client, "products/update", future, delivery="replayed-2").json()["status"] == "rejected"
    assert not Product.objects.exists() and not WebhookDelivery.objects.exists()
    fresh = shopify_product(updated_at=timezone.now().isoformat())
    assert post_shopify(client, "products/update", fresh, delivery="fresh").json()["status"] == "created"


def test_a_late_update_cannot_bring_a_deleted_product_back(client):
    assert post_shopify(client, "products/create", shopify_product(updated_at=at(0))).json()["status"] == "created"
    deleted = client_post_shopify_delete(client, at(2), delivery="d-del")
    assert deleted.json() == {"status": "deleted"}
    late = shopify_product(title="Late edit", updated_at=at(1))  # made before the delete, delivered after
    assert post_shopify(client, "products/update", late, delivery="d-late").json() == {"status": "stale"}
    assert not Product.objects.exists()
    # A delete that arrives before the create it follows leaves a tombstone too.
    assert client_post_shopify_delete(client, at(3), delivery="d-del-2", product_id=42).json() == {"status": "ignored"}
    early = shopify_product(id=42, title="Never", updated_at=at(2.5))
    assert post_shopify(client, "products/create", early, delivery="d-early").json() == {"status": "stale"}
    # The platform restoring the product later is newer than the delete: it comes back.
    restored = shopify_product(title="Restored", updated_at=at(4))
    assert post_shopify(client, "products/update", restored, delivery="d-restored").json() == {"status": "created"}
    assert Product.objects.get().title == "Restored"


def client_post_shopify_delete(client, when: str, *, delivery: str, product_id: int = 788032119674292900):
    body = json.dumps({"id": product_id}).encode()
    return client.post(
        "/api/v1/webhooks/shopify/", body, content_type="application/json",
        HTTP_X_SHOPIFY_HMAC_SHA256=sign(SHOPIFY_SECRET, body), HTTP_X_SHOPIFY_TOPIC="products/delete",
        HTTP_X_SHOPIFY_WEBHOOK_ID=delivery, HTTP_X_SHOPIFY_TRIGGERED_AT=when,
    )  # fmt: skip


def test_webhook_bodies_over_the_cap_are_413_before_they_are_read(client, settings):
    settings.SNAPSHELF_WEBHOOK_MAX_BYTES = 2000
    big = shopify_product(body_html="x" * 5000)
    response = post_shopify(client, "products/create", big)
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"
    assert not Product.objects.exists()
