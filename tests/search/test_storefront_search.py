"""Storefront search pages without a browser: forms, redirects, messages, no-JS posts."""

from __future__ import annotations

import logging

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog.models import Category, Product
from tests.sample_images import image_bytes
from tests.search.search_fixtures import demo_photo_bytes


@pytest.fixture
def media_root(demo_media_root):
    """The demo index's files (tests/search/conftest.py)."""
    return demo_media_root


pytestmark = pytest.mark.django_db
RESULTS = "search:results"


def upload(name: str, data: bytes, content_type: str = "image/png"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type=content_type)


def test_photo_post_redirects_to_a_token_page_that_pages_and_filters(client, demo_index):
    response = client.post(reverse(RESULTS), {"photo": upload("mug.png", demo_photo_bytes("DEMO-MUG-RED"))})
    assert response.status_code == 303 and "token=" in response["Location"]
    page = client.get(response["Location"])
    html = page.content.decode()
    assert page.status_code == 200 and "Red Mug" in html
    assert page.context["result"].hits[0].product.sku == "DEMO-MUG-RED"
    assert 'rel="next"' in html
    second = client.get(response["Location"] + "&page=2")
    assert second.status_code == 200 and second.context["page"] == 2
    first_ids = {hit.product.pk for hit in page.context["result"].hits}
    assert not first_ids & {hit.product.pk for hit in second.context["result"].hits}
    kitchen = Category.objects.get(name="Kitchen")
    filtered = client.get(response["Location"] + f"&category={kitchen.pk}&in_stock=on")
    hits = filtered.context["result"].hits
    assert hits and all(h.product.category.parent_id == kitchen.pk and h.product.in_stock for h in hits)


def test_text_search_and_colour_filter_by_get(client, demo_index):
    page = client.get(reverse(RESULTS), {"q": "sneaker", "colour": "green"})
    hits = page.context["result"].hits
    assert hits[0].product.sku == "DEMO-SNEAKER-GREEN"
    assert all(h.product.attributes["colour"] == "green" for h in hits)
    # Each card says why it matched; the first links to its product (through the result-open
    # redirect when the search was kept: tests/insights/test_recording.py).
    html = page.content.decode()
    assert html.count('<span class="reasons">') == len(hits)
    link = reverse("search:result-open", args=[page.context["search_id"], 1, hits[0].product.pk])
    assert f'<a href="{link}">' in html
    assert client.get(link)["Location"] == hits[0].product.get_absolute_url()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"photo": upload("notes.txt", b"just some text", "text/plain")}, "not an image"),
        ({"q": "   "}, "Type a few words or add a photo"),
        ({"token": "A" * 24}, "expired"),
        ({"q": "x" * 600}, "at most 500"),
        ({"price_min": "cheap"}, "Enter a number"),
        ({"q": "mug", "page": "9999"}, "less than or equal"),
    ],
)
def test_bad_input_gets_a_message_not_an_error(client, demo_index, data, message):
    # A POST without a new photo goes on to the GET page, where the search (and its message) is.
    response = client.post(reverse(RESULTS), data, follow=True)
    assert response.status_code in (200, 400)
    assert message in response.content.decode()


def test_the_filter_selects_show_the_choice_and_category_changes_once_committed(
    client, demo_index, django_capture_on_commit_callbacks
):
    # The rendered selects are kept in Django's cache under the categories' version
    # (catalog.selectors.categories_version), which changes once a category's save or delete
    # commits: a new or renamed category shows on the next page, never a stale select.
    kitchen = Category.objects.get(name="Kitchen")
    first = client.get(reverse(RESULTS), {"q": "mug", "category": kitchen.pk}).content.decode()
    assert f'<option value="{kitchen.pk}" selected>' in first
    again = client.get(reverse(RESULTS), {"q": "mug"}).content.decode()
    assert f'<option value="{kitchen.pk}" selected>' not in again and f'<option value="{kitchen.pk}">' in again
    with django_capture_on_commit_callbacks(execute=True):
        garden = Category.objects.create(name="Garden tools", slug="garden-tools")
    fresh = client.get(reverse(RESULTS), {"q": "mug"}).content.decode()
    assert f'<option value="{garden.pk}">Garden tools</option>' in fresh
    with django_capture_on_commit_callbacks(execute=True):
        garden.name = "Garden"
        garden.save()
    renamed = client.get(reverse(RESULTS), {"q": "mug"}).content.decode()
    assert f'<option value="{garden.pk}">Garden</option>' in renamed
    with django_capture_on_commit_callbacks(execute=True):
        garden.delete()
    assert f'<option value="{garden.pk}">' not in client.get(reverse(RESULTS), {"q": "mug"}).content.decode()


def test_a_words_search_reads_no_categories_once_the_selects_are_cached(client, demo_index):
    # The category options are read only to check a chosen category or to render the selects.
    client.get(reverse(RESULTS), {"q": "mug"})
    with CaptureQueriesContext(connection) as statements:
        page = client.get(reverse(RESULTS), {"q": "cup"})
    assert page.status_code == 200 and "All categories</option>" in page.content.decode()
    assert not [s["sql"] for s in statements if 'FROM "catalog_category"' in (s["sql"] or "")]


@pytest.mark.parametrize("category", ["999999999", "abc", "1.5", "-1", "99999999999999999999999", "1\x00"])
def test_an_unknown_category_is_a_form_error(client, demo_index, category):
    # Ids that are not a category's, or no id at all: a form error, never a 500.
    response = client.get(reverse(RESULTS), {"q": "mug", "category": category})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Select a valid choice" in html or "Null characters are not allowed" in html


def test_a_too_large_photo_is_refused_with_its_size(client, demo_index, settings):
    settings.SNAPSHELF_SEARCH_QUERY_IMAGE_MAX_BYTES = 1000  # query photos' own cap
    response = client.post(reverse(RESULTS), {"photo": upload("big.png", image_bytes(size=(400, 400)) + b"\0" * 2000)})
    assert response.status_code == 400 and "too large" in response.content.decode()


def test_no_results_and_no_close_match_are_said(client, demo_index):
    empty = client.get(reverse(RESULTS), {"q": "mug", "price_min": "5000"})
    assert "No products match" in empty.content.decode()
    import io

    import numpy as np
    from PIL import Image

    noise = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(noise, "PNG")
    response = client.post(reverse(RESULTS), {"photo": upload("noise.png", noise.getvalue())}, follow=True)
    assert "No exact match. These look closest." in response.content.decode()
    assert len(response.context["result"].hits) == 24


def test_product_page_shows_visually_similar_products(client, demo_index):
    product = Product.objects.get(sku="DEMO-CAP-RED")
    page = client.get(product.get_absolute_url())
    similar = page.context["similar"]
    assert "Visually similar" in page.content.decode() and len(similar) == 8
    assert product.pk not in {hit.product.pk for hit in similar}


def test_media_is_served_by_django_when_asked(client, demo_index, settings):
    from catalog.services import product_image_add

    image, _ = product_image_add(product=Product.objects.first(), data=image_bytes((1, 2, 3)))
    response = client.get(image.file.url)
    assert response.status_code == 200 and b"".join(response.streaming_content)[:4] == b"\x89PNG"


def test_a_search_only_shop_photo_finds_its_product_and_is_never_shown(client, demo_index):
    import io

    import numpy as np
    from PIL import Image

    from catalog.services import product_image_add, product_upsert
    from search.services.index_queue import embeddings_process_available

    shelf = io.BytesIO()
    Image.fromarray(np.random.default_rng(7).integers(0, 255, (240, 240, 3), dtype=np.uint8)).save(shelf, "PNG")
    product, _ = product_upsert(sku="SHELF-1", title="Shelf tin")
    shown, _ = product_image_add(product=product, data=image_bytes((200, 180, 20)))
    hidden, _ = product_image_add(product=product, data=shelf.getvalue(), search_only=True)
    embeddings_process_available()

    response = client.post(reverse(RESULTS), {"photo": upload("shelf.png", shelf.getvalue())}, follow=True)
    first = response.context["result"].hits[0]
    assert first.product.sku == "SHELF-1" and first.distance < 0.05
    assert first.matched_image is None  # the card shows the product's shown image instead
    html = response.content.decode()
    shown.refresh_from_db()
    hidden.refresh_from_db()
    card, shop_photo = shown.card_thumbnail, hidden.card_thumbnail
    assert shown.thumbnails and hidden.thumbnails  # made by the worker
    assert card.url in html and shop_photo.url not in html
    detail = client.get(product.get_absolute_url())
    assert [image.pk for image in detail.context["images"]] == [shown.pk]
    assert hidden.file.name.rsplit("/", 1)[-1][:20] not in detail.content.decode()


@pytest.fixture
def counted(monkeypatch, demo_index):
    """The real offline embedder's query photo embedding and the real search service, counted."""
    from search import views
    from search.embedders.registry import embedder_get

    calls = {"embed_images": 0, "product_search": 0}
    embedder = embedder_get(demo_index.name)
    embed_images, product_search = embedder.embed_query_images, views.product_search

    def embed_counted(images):
        calls["embed_images"] += 1
        return embed_images(images)

    def search_counted(query):
        calls["product_search"] += 1
        return product_search(query)

    monkeypatch.setattr(embedder, "embed_query_images", embed_counted)
    monkeypatch.setattr(views, "product_search", search_counted)
    return calls


def test_the_photo_post_embeds_once_and_the_get_searches_once(client, counted):
    response = client.post(reverse(RESULTS), {"photo": upload("mug.png", demo_photo_bytes("DEMO-MUG-RED"))})
    assert response.status_code == 303
    assert counted == {"embed_images": 1, "product_search": 0}
    page = client.get(response["Location"])
    assert page.context["result"].hits[0].product.sku == "DEMO-MUG-RED"
    assert counted == {"embed_images": 1, "product_search": 1}


def test_a_photo_that_will_not_decode_is_a_form_error_on_the_post(client, counted):
    response = client.post(reverse(RESULTS), {"photo": upload("mug.jpg", b"\xff\xd8\xff\xe0 broken", "image/jpeg")})
    assert response.status_code == 400 and "could not be" in response.content.decode()
    assert counted == {"embed_images": 0, "product_search": 0}


def test_a_photo_token_works_only_in_the_session_that_made_it_and_is_never_logged(client, demo_index, settings, caplog):
    from django.test import Client

    settings.SNAPSHELF_SEARCH_KEEP_QUERY_PHOTO = True
    caplog.set_level(logging.DEBUG)
    posted = client.post(reverse(RESULTS), {"photo": upload("mug.png", demo_photo_bytes("DEMO-MUG-RED"))})
    results_url = posted["Location"]
    token = results_url.split("token=")[1].split("&")[0]
    mine = client.get(results_url)
    assert mine.status_code == 200 and mine.context["result"].hits[0].product.sku == "DEMO-MUG-RED"
    assert client.get(reverse("search:query-photo"), {"token": token}).status_code == 200
    # The same link from another browser (a shared link, a logged URL) finds nothing.
    stranger = Client()
    refused = stranger.get(results_url)
    assert refused.status_code == 400 and "expired" in refused.content.decode()
    assert stranger.get(reverse("search:query-photo"), {"token": token}).status_code == 404
    assert not [record for record in caplog.records if token in record.getMessage()]


def test_expired_photo_queries_are_purged(client, demo_index, settings):
    from datetime import timedelta

    from django.utils import timezone

    from search.models import QueryPhoto
    from search.services.query_photos import query_photos_purge

    # Tests that share the demo index and commit (live servers) may have left rows of their own.
    QueryPhoto.objects.all().delete()
    client.post(reverse(RESULTS), {"photo": upload("mug.png", demo_photo_bytes("DEMO-MUG-RED"))})
    client.post(reverse(RESULTS), {"photo": upload("cap.png", demo_photo_bytes("DEMO-CAP-BLUE"))})
    old, kept = QueryPhoto.objects.order_by("expires_at")[:2]
    QueryPhoto.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert query_photos_purge() == 1
    assert list(QueryPhoto.objects.values_list("pk", flat=True)) == [kept.pk]


def test_photo_and_word_searches_are_limited_per_client_address(client, demo_index, settings):
    from django.core.cache import cache

    cache.clear()
    settings.SNAPSHELF_STOREFRONT_PHOTO_RATE = "2/m"
    settings.SNAPSHELF_STOREFRONT_WORDS_RATE = "3/m"
    photo = demo_photo_bytes("DEMO-MUG-RED")

    def post(address: str, **extra: str) -> int:
        return client.post(reverse(RESULTS), {"photo": upload("p.png", photo)}, REMOTE_ADDR=address, **extra)

    assert [post("198.51.100.1").status_code for _ in range(2)] == [303, 303]
    refused = post("198.51.100.1", HTTP_X_FORWARDED_FOR="203.0.113.50")  # a forged header changes nothing
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert "Too many photo searches" in refused.content.decode()
    assert post("198.51.100.2").status_code == 303  # another address has its own limit
    # Words have their own limit, untouched by the photos.
    words = [client.get(reverse(RESULTS), {"q": "mug"}, REMOTE_ADDR="198.51.100.1").status_code for _ in range(4)]
    assert words == [200, 200, 200, 429]
    settings.SNAPSHELF_STOREFRONT_PHOTO_RATE = "0"  # off, as a load test from one address needs
    assert post("198.51.100.1").status_code == 303


def test_a_photo_body_over_the_cap_is_refused_from_its_content_length(client, settings):
    settings.SNAPSHELF_SEARCH_QUERY_IMAGE_MAX_BYTES = 1000
    data = image_bytes(size=(400, 400), fmt="BMP")  # 480 KB
    response = client.post(reverse(RESULTS), {"photo": upload("big.png", data)})
    assert response.status_code == 413 and "too large" in response.content.decode()


def test_query_photos_have_their_own_pixel_cap(client, settings):
    from tests.hostile_images import png_header_bomb

    settings.SNAPSHELF_SEARCH_QUERY_IMAGE_MAX_PIXELS = 12_000_000
    response = client.post(reverse(RESULTS), {"photo": upload("big.png", png_header_bomb(4000, 4000))})
    assert response.status_code == 400
    assert "4000x4000 pixels; the limit is 12,000,000" in response.content.decode()
