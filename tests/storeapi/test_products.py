"""Products, images and categories through the API; incremental sync; the error shape."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from catalog.models import Product, ProductImage
from catalog.services import product_image_add, product_upsert
from catalog.thumbnails import image_thumbnails_make
from storeapi.models import ImageFetch
from tests.catalog.factories import ProductFactory
from tests.sample_images import image_bytes

pytestmark = pytest.mark.django_db

PRODUCTS = "/api/v1/products/"


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    return body["error"]


def test_create_get_update_delete(api):
    created = api.post(
        PRODUCTS,
        {"sku": "TEE-1", "title": "Red tee", "price": "19.90", "category": "Apparel > Tops", "stock": 3,
         "attributes": {"colour": "red"}, "url": "https://shop.example/tee-1"},
        format="json",
    )  # fmt: skip
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["sku"] == "TEE-1" and body["price"] == "19.90" and body["category"] == "Apparel > Tops"
    assert body["in_stock"] is True and body["images"] == []
    detail = f"{PRODUCTS}{body['id']}/"
    assert api.get(detail).json()["title"] == "Red tee"
    patched = api.patch(detail, {"title": "Crimson tee", "stock": 0}, format="json")
    assert patched.status_code == 200
    assert patched.json()["title"] == "Crimson tee" and patched.json()["in_stock"] is False
    assert patched.json()["price"] == "19.90"  # untouched
    assert api.delete(detail).status_code == 204
    assert api.get(detail).status_code == 404
    assert not Product.objects.filter(sku="TEE-1").exists()


def test_create_with_an_existing_sku_is_a_conflict(api):
    ProductFactory(sku="DUP-1")
    response = api.post(PRODUCTS, {"sku": "DUP-1", "title": "Again"}, format="json")
    assert response.status_code == 409 and error_of(response)["code"] == "conflict"


def test_sku_cannot_change(api):
    product = ProductFactory(sku="KEEP-1")
    response = api.patch(f"{PRODUCTS}{product.pk}/", {"sku": "OTHER"}, format="json")
    assert response.status_code == 400 and "sku" in error_of(response)["details"]


def test_upsert_by_sku_reports_created_updated_unchanged(api):
    payload = {"sku": "UP-1", "title": "Lamp", "price": "30"}
    first = api.post(f"{PRODUCTS}upsert/", payload, format="json")
    assert first.status_code == 201 and first.json()["result"] == "created"
    again = api.post(f"{PRODUCTS}upsert/", payload, format="json")
    assert again.status_code == 200 and again.json()["result"] == "unchanged"
    changed = api.post(f"{PRODUCTS}upsert/", {**payload, "price": "31.50"}, format="json")
    assert changed.json()["result"] == "updated" and changed.json()["product"]["price"] == "31.50"


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"sku": "X", "title": "X", "price": "-1"}, "price"),
        ({"sku": "X", "title": "X", "price": "abc"}, "price"),
        ({"sku": "X", "title": "X", "currency": "euro"}, "currency"),
        ({"sku": "X", "title": "X", "stock": -2}, "stock"),
        ({"sku": "X", "title": "X", "stock": 10**12}, "stock"),
        ({"sku": "X", "title": "X", "attributes": ["a"]}, "attributes"),
        ({"sku": "X", "title": "X", "attributes": {"k": "a\x00b"}}, "attributes"),
        ({"sku": "X", "title": "nul\x00"}, "title"),
        ({"sku": "X", "title": "X", "url": "not a url"}, "url"),
        ({"sku": "X", "title": "X", "category": "x" * 201}, "category"),
        ({"title": "X"}, "sku"),
    ],
)
def test_bad_fields_are_400_with_the_field_named(api, payload, field):
    response = api.post(PRODUCTS, payload, format="json")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "validation_error" and field in error["details"], error


def test_malformed_json_and_unknown_urls_use_the_error_shape(api):
    response = api.post(PRODUCTS, "{not json", content_type="application/json")
    assert response.status_code == 400 and error_of(response)["code"] == "parse_error"
    assert error_of(api.get("/api/v1/nothing-here/"))["code"] == "not_found"
    assert api.get("/api/v1/nothing-here/").status_code == 404
    assert error_of(api.put(PRODUCTS, {}, format="json"))["code"] == "method_not_allowed"
    response = api.post(PRODUCTS, "<x/>", content_type="application/xml")
    assert response.status_code == 415 and error_of(response)["code"] == "unsupported_media_type"
    assert api.get("/no-such-page/").status_code == 404  # HTML outside /api/


def test_list_filters_and_incremental_sync_by_updated_after(api):
    old = ProductFactory(sku="OLD", brand="Acme")
    Product.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=2))
    ProductFactory(sku="NEW", brand="Other", is_active=False)
    cutoff = timezone.now() - timedelta(days=1)
    skus = lambda response: [p["sku"] for p in response.json()["results"]]  # noqa: E731
    assert skus(api.get(PRODUCTS)) == ["OLD", "NEW"]  # oldest change first
    assert skus(api.get(PRODUCTS, {"updated_after": cutoff.isoformat()})) == ["NEW"]
    assert skus(api.get(PRODUCTS, {"brand": "acme"})) == ["OLD"]
    assert skus(api.get(PRODUCTS, {"is_active": "false"})) == ["NEW"]
    assert skus(api.get(PRODUCTS, {"sku": "OLD,NEW"})) == ["OLD", "NEW"]
    assert error_of(api.get(PRODUCTS, {"updated_after": "yesterday"}))["code"] == "validation_error"
    assert api.get(PRODUCTS, {"category": 999999}).status_code == 400


def test_cursor_pages_walk_every_product_once(api):
    for n in range(7):
        ProductFactory(sku=f"P-{n}")
    seen, url = [], f"{PRODUCTS}?limit=3"
    while url:
        page = api.get(url).json()
        seen += [p["sku"] for p in page["results"]]
        url = page["next"]
    assert sorted(seen) == [f"P-{n}" for n in range(7)]
    assert error_of(api.get(PRODUCTS, {"cursor": "garbage"}))["details"] == {"cursor": ["This cursor is not valid."]}
    assert api.get(PRODUCTS, {"limit": 0}).status_code == 400


def test_image_upload_multipart_and_list_and_delete(api):
    product = ProductFactory()
    upload = SimpleUploadedFile("red.png", image_bytes((220, 10, 10)), content_type="image/png")
    url = f"{PRODUCTS}{product.pk}/images/"
    response = api.post(url, {"file": upload, "alt_text": "Red"}, format="multipart")
    assert response.status_code == 201, response.json()
    image = response.json()
    assert image["alt_text"] == "Red" and image["width"] == 64 and image["url"].startswith("http://testserver/")
    assert [i["id"] for i in api.get(url).json()] == [image["id"]]
    assert api.get(f"{PRODUCTS}{product.pk}/").json()["images"][0]["id"] == image["id"]
    bad = SimpleUploadedFile("x.png", b"not an image", content_type="image/png")
    response = api.post(url, {"file": bad}, format="multipart")
    assert response.status_code == 400 and "file" in error_of(response)["details"]
    assert api.post(url, {}, format="multipart").status_code == 400
    assert api.delete(f"{url}{image['id']}/").status_code == 204
    assert not ProductImage.objects.filter(pk=image["id"]).exists()


def test_image_url_is_queued_for_a_worker(api, image_server, settings):
    from storeapi.services.image_fetches import image_fetches_process_pending

    settings.SNAPSHELF_IMAGE_URL_ALLOW_PRIVATE = True
    settings.SNAPSHELF_IMAGE_URL_PORTS = []  # the test server listens on a random port
    product = ProductFactory()
    url = f"{PRODUCTS}{product.pk}/images/"
    response = api.post(url, {"image_url": image_server.url("red.png"), "alt_text": "Red"}, format="json")
    assert response.status_code == 202 and response.json()["status"] == "pending"
    fetch_id = response.json()["id"]
    assert not product.images.exists()  # not fetched in the request
    assert image_fetches_process_pending() == 1
    fetch = api.get(f"/api/v1/image-fetches/{fetch_id}/").json()
    assert fetch["status"] == "done" and fetch["image"] is not None
    assert product.images.get().alt_text == "Red"
    # The same URL again: nothing new is queued.
    assert api.post(url, {"image_url": image_server.url("red.png")}, format="json").status_code == 202
    assert ImageFetch.objects.count() == 1


def test_requests_outside_the_documented_bodies_still_work(api, image_server):
    """Before schema 1.1 an image_url could come as a form field; it is no longer documented
    (multipart carries files) but existing clients keep working (CHANGELOG.md)."""
    product = ProductFactory()
    url = f"{PRODUCTS}{product.pk}/images/"
    response = api.post(url, {"image_url": image_server.url("red.png"), "alt_text": "Red"}, format="multipart")
    assert response.status_code == 202 and response.json()["url"] == image_server.url("red.png")
    both = {"image_url": image_server.url("blue.png"), "file": SimpleUploadedFile("x.png", image_bytes((1, 2, 3)))}
    assert error_of(api.post(url, both, format="multipart"))["details"] == {
        "non_field_errors": ["Send either a file or an image_url."]
    }


def test_image_url_fetch_keeps_the_ssrf_guard(api, image_server, settings):
    from storeapi.services.image_fetches import image_fetches_process_pending

    settings.SNAPSHELF_IMAGE_URL_PORTS = []  # the guard on addresses, not the one on ports

    product = ProductFactory()
    response = api.post(f"{PRODUCTS}{product.pk}/images/", {"image_url": image_server.url("red.png")}, format="json")
    image_fetches_process_pending()
    fetch = api.get(f"/api/v1/image-fetches/{response.json()['id']}/").json()
    assert fetch["status"] == "failed" and "private, loopback or link-local" in fetch["error"]


def test_categories(api, public_key):
    response = api.post("/api/v1/categories/", {"path": "Home > Kitchen > Mugs"}, format="json")
    assert response.status_code == 201 and response.json()["path"] == "Home > Kitchen > Mugs"
    listed = api.get("/api/v1/categories/").json()["results"]
    assert [c["name"] for c in listed] == ["Home", "Kitchen", "Mugs"]
    assert api.get(f"/api/v1/categories/{response.json()['id']}/").json()["name"] == "Mugs"
    assert api.post("/api/v1/categories/", {"path": " > "}, format="json").status_code == 400


def test_product_images_and_category_shown_on_products(api):
    product, _ = product_upsert(sku="IMG-1", title="With image")
    product_image_add(product=product, data=image_bytes())
    body = api.get(f"{PRODUCTS}{product.pk}/").json()
    assert len(body["images"]) == 1 and body["category"] == ""


def test_product_images_carry_the_worker_made_thumbnails_with_their_sizes(api):
    product, _ = product_upsert(sku="THUMB-1", title="Thumbnails")
    image, _ = product_image_add(product=product, data=image_bytes(size=(800, 600)))
    shown = api.get(f"{PRODUCTS}{product.pk}/").json()["images"][0]
    # Before the worker has made them: the original, with the size it takes inside each box.
    assert shown["thumbnails"] == {
        "card": {"url": shown["url"], "width": 240, "height": 180},
        "detail": {"url": shown["url"], "width": 480, "height": 360},
    }
    assert image_thumbnails_make(image)  # what the indexing worker does
    listed = api.get(f"{PRODUCTS}{product.pk}/images/").json()[0]
    for body in (api.get(f"{PRODUCTS}{product.pk}/").json()["images"][0], listed):
        thumbnails = body["thumbnails"]
        assert {name: (t["width"], t["height"]) for name, t in thumbnails.items()} == {
            "card": (240, 240),  # cropped to fill its box
            "detail": (480, 360),  # whole, inside its box
        }
        for name, thumbnail in thumbnails.items():
            stored = getattr(image, f"{name}_thumbnail")  # what the storefront shows
            assert thumbnail["url"] == f"http://testserver{stored.url}" != body["url"]
            served = api.get(thumbnail["url"])
            assert served.status_code == 200
            with Image.open(io.BytesIO(b"".join(served.streaming_content))) as picture:
                assert picture.format == "JPEG" and picture.size == (thumbnail["width"], thumbnail["height"])


def test_oversized_bodies_are_413_in_the_error_shape(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api.post(PRODUCTS, {"sku": "BIG", "title": "x" * 5000}, format="json")
    assert response.status_code == 413 and error_of(response)["code"] == "request_too_large"


def test_search_only_photos_upload_listed_with_the_flag_and_left_out_of_products(api, public_key):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.storeapi.conftest import client_with

    product, _ = product_upsert(sku="SHOP-1", title="Shelf photo mug")
    shown, _ = product_image_add(product=product, data=image_bytes((10, 10, 220)))
    url = f"{PRODUCTS}{product.pk}/images/"
    upload = SimpleUploadedFile("shelf.png", image_bytes((220, 10, 10)), content_type="image/png")
    response = api.post(url, {"file": upload, "search_only": "true"}, format="multipart")
    assert response.status_code == 201 and response.json()["search_only"] is True
    listed = {image["id"]: image["search_only"] for image in api.get(url).json()}
    assert listed == {shown.pk: False, response.json()["id"]: True}
    assert [image["id"] for image in api.get(f"{PRODUCTS}{product.pk}/").json()["images"]] == [shown.pk]
    assert all(len(p["images"]) == 1 for p in api.get(PRODUCTS).json()["results"])
    # A public key may not list a product's images at all.
    assert client_with(public_key).get(url).status_code == 403
    assert api.post(url, {"file": upload, "search_only": "maybe"}, format="multipart").status_code == 400


def test_search_only_image_urls_are_fetched_as_search_only(api, image_server, settings):
    from storeapi.services.image_fetches import image_fetches_process_pending

    settings.SNAPSHELF_IMAGE_URL_ALLOW_PRIVATE = True
    settings.SNAPSHELF_IMAGE_URL_PORTS = []  # the test server listens on a random port
    product = ProductFactory()
    body = {"image_url": image_server.url("red.png"), "search_only": True}
    response = api.post(f"{PRODUCTS}{product.pk}/images/", body, format="json")
    assert response.status_code == 202 and response.json()["search_only"] is True
    assert image_fetches_process_pending() == 1
    assert product.images.get().search_only


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_create_of_one_sku_is_409(write_key):
    import threading

    from django.db import connection, transaction

    from tests.storeapi.conftest import client_with

    holding, release, answers = threading.Event(), threading.Event(), []

    def first_writer() -> None:  # creates the SKU and commits a moment later
        with transaction.atomic():
            product_upsert(sku="RACE-1", title="First")
            holding.set()
            release.wait(10)
        connection.close()

    def second_writer() -> None:  # its insert waits for the first commit, then is refused
        answers.append(client_with(write_key).post(PRODUCTS, {"sku": "RACE-1", "title": "Second"}, format="json"))
        connection.close()

    first = threading.Thread(target=first_writer)
    first.start()
    assert holding.wait(10)
    second = threading.Thread(target=second_writer)
    second.start()
    second.join(0.5)  # blocked on the unique index
    release.set()
    first.join()
    second.join()
    assert answers[0].status_code == 409 and error_of(answers[0])["code"] == "conflict"
    assert Product.objects.get(sku="RACE-1").title == "First"


def test_deleting_a_product_or_image_deletes_files_and_thumbnails_after_commit(
    api, settings, tmp_path, django_capture_on_commit_callbacks
):
    from catalog.thumbnails import image_thumbnails_make

    settings.MEDIA_ROOT = tmp_path
    product, other = ProductFactory(), ProductFactory()
    kept = product_image_add(product=product, data=image_bytes((10, 200, 10)))[0]
    gone = product_image_add(product=product, data=image_bytes((200, 10, 10)))[0]
    shared = product_image_add(product=other, data=image_bytes((10, 200, 10)))[0]  # kept's bytes
    for image in (kept, gone, shared):
        assert image_thumbnails_make(image)
        image.refresh_from_db()
    paths = [tmp_path / gone.file.name, *(tmp_path / t["name"] for t in gone.thumbnails.values())]
    assert len(paths) == 3 and all(path.exists() for path in paths)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert api.delete(f"{PRODUCTS}{product.pk}/images/{gone.pk}/").status_code == 204
    assert all(path.exists() for path in paths)  # not before the commit
    for callback in callbacks:
        callback()
    assert not any(path.exists() for path in paths)
    with django_capture_on_commit_callbacks(execute=True):
        product.delete()  # as the admin does: the cascade takes the images' files too
    assert not (tmp_path / kept.file.name).exists()
    # The thumbnails kept's bytes share with another product's image stay.
    assert all((tmp_path / t["name"]).exists() for t in shared.thumbnails.values())
    assert (tmp_path / shared.file.name).exists()


def test_public_keys_do_not_see_where_images_came_from(api, public_key):
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from storeapi.models import ApiKey
    from storeapi.serializers.products import ProductImageSerializer

    product = ProductFactory()
    image = product_image_add(product=product, data=image_bytes(), source_url="http://10.0.0.5/supplier/1.png")[0]
    assert api.get(f"{PRODUCTS}{product.pk}/").json()["images"][0]["source_url"] == image.source_url

    def shown_to(kind: str) -> dict:
        request = Request(APIRequestFactory().post("/api/v1/search/"))
        request.auth = ApiKey(kind=kind)
        return ProductImageSerializer(image, context={"request": request}).data

    assert shown_to("public")["source_url"] == ""  # search hits and similar products answer public keys
    assert shown_to("read")["source_url"] == image.source_url


@pytest.mark.django_db(transaction=True)
def test_no_row_lock_is_held_while_an_image_url_is_fetched(settings):
    import http.server
    import threading

    from django.db import transaction

    from storeapi.services.image_fetches import image_fetch_process

    settings.SNAPSHELF_IMAGE_URL_ALLOW_PRIVATE = True
    settings.SNAPSHELF_IMAGE_URL_PORTS = []
    requested, answer = threading.Event(), threading.Event()
    png = image_bytes()

    class SlowHandler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requested.set()
            answer.wait(10)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(png)))
            self.end_headers()
            self.wfile.write(png)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    fetch = ImageFetch.objects.create(
        product=ProductFactory(), url=f"http://127.0.0.1:{server.server_address[1]}/a.png"
    )
    worker = threading.Thread(target=image_fetch_process, args=[fetch.pk])
    worker.start()
    try:
        assert requested.wait(10)
        with transaction.atomic():  # while the fetch waits on the server, the row is not locked
            ImageFetch.objects.select_for_update(nowait=True).get(pk=fetch.pk)
            assert image_fetch_process(fetch.pk) is None  # a second copy of the task finds it claimed
    finally:
        answer.set()
        worker.join()
        server.shutdown()
    fetch.refresh_from_db()
    assert fetch.status == "done" and fetch.image is not None
