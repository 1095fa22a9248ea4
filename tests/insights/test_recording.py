"""Every search is kept (storefront, API, widget, similar) without a photo, address or account,
opened results are kept with their rank, a failure to record never breaks a search, and
retention deletes old records."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from catalog.models import Category, Product
from insights.models import ResultOpen, SearchEvent
from insights.services.recording import retention_enforce, visitor_salt_forget
from storeapi.services.api_keys import api_key_create
from tests.search.search_fixtures import demo_photo_bytes
from tests.storeapi.conftest import client_with

pytestmark = pytest.mark.django_db
RESULTS = "search:results"


@pytest.fixture
def media_root(demo_media_root):
    return demo_media_root


@pytest.fixture
def api_shop(demo_index):
    cache.clear()  # throttle buckets of earlier tests
    return client_with(api_key_create(name="Shop front", kind="public")[1])


def only_event() -> SearchEvent:
    events = list(SearchEvent.objects.all())
    assert len(events) == 1, events
    return events[0]


def test_storefront_word_search_is_recorded_and_its_links_count_opens(client, demo_index):
    page = client.get(reverse(RESULTS), {"q": "sneaker", "colour": "green"}, REMOTE_ADDR="203.0.113.9")
    assert page.status_code == 200
    event = only_event()
    hits = page.context["result"].hits
    assert (event.channel, event.kind, event.text) == ("storefront", "words", "sneaker")
    assert event.filters == {"colour": "green"}
    assert event.model_name == demo_index.name and event.model_id == demo_index.pk
    assert event.results == len(hits) and event.product_ids == [h.product.pk for h in hits]
    assert event.page == 1 and event.first_rank == 1 and event.close_match and event.best_distance is None
    assert event.latency_ms > 0
    # Nothing that identifies the shopper: the address is only in a 16-character hash.
    stored = json.dumps(SearchEvent.objects.values().first(), default=str)
    assert len(event.visitor) == 16 and "203.0.113.9" not in stored
    # The second card links through the redirect with its rank, which counts the open.
    second = hits[1].product
    link = reverse("search:result-open", args=[event.pk, 2, second.pk])
    assert f'href="{link}"' in page.content.decode()
    opened = client.get(link)
    assert opened.status_code == 302 and opened["Location"] == reverse("search:product-detail", args=[second.pk])
    assert list(ResultOpen.objects.values_list("search_id", "rank", "product_id")) == [(event.pk, 2, second.pk)]


def test_an_open_that_does_not_match_the_search_is_not_counted(client, demo_index):
    client.get(reverse(RESULTS), {"q": "mug"})
    event = only_event()
    other = Product.objects.exclude(pk__in=event.product_ids).first()
    for args in ([event.pk, 1, other.pk], [event.pk, 99, event.product_ids[0]], [event.pk + 1000, 1, other.pk]):
        response = client.get(reverse("search:result-open", args=args))
        assert response.status_code == 302  # the shopper still gets the product page
    assert not ResultOpen.objects.exists()


def test_photo_search_records_kind_distance_and_second_page(client, demo_index):
    photo = SimpleUploadedFile("mug.png", demo_photo_bytes("DEMO-MUG-RED"), content_type="image/png")
    redirect = client.post(reverse(RESULTS), {"photo": photo, "q": "red"})
    assert redirect.status_code == 303 and not SearchEvent.objects.exists()  # counted once, on the page
    client.get(redirect["Location"])
    client.get(redirect["Location"] + "&page=2")
    first, second = SearchEvent.objects.order_by("pk")
    assert first.kind == second.kind == "photo_words"
    assert first.best_distance is not None and first.best_distance < 0.05  # the catalog photo itself
    assert (second.page, second.first_rank) == (2, 25)


def test_category_browse_and_similar_products_are_recorded(client, demo_index):
    kitchen = Category.objects.get(name="Kitchen")
    client.get(reverse(RESULTS), {"category": kitchen.pk})
    product = Product.objects.get(sku="DEMO-MUG-RED")
    detail = client.get(reverse("search:product-detail", args=[product.pk]))
    browse, similar = SearchEvent.objects.order_by("pk")
    assert browse.kind == "category" and browse.filters == {"category": kitchen.pk}
    assert similar.kind == "similar" and similar.similar_to == product.pk and similar.results > 0
    # The look-alikes link through the redirect too.
    link = reverse("search:result-open", args=[similar.pk, 1, similar.product_ids[0]])
    assert f'href="{link}"' in detail.content.decode()


def test_api_search_returns_a_search_id_that_reports_opens(api_shop, client):
    response = api_shop.post("/api/v1/search/", {"text": "red mug", "limit": 5}, format="json")
    body = response.json()
    event = only_event()
    assert (event.channel, event.kind) == ("api", "words") and body["search_id"]
    product = body["results"][0]["product"]["id"]
    # The widget's beacon: a form post without a key.
    opened = client.post("/api/v1/search/opened/", {"search_id": body["search_id"], "rank": 1, "product": product})
    assert opened.status_code == 204
    assert ResultOpen.objects.get().product_id == product
    forged = client.post("/api/v1/search/opened/", {"search_id": str(event.pk), "rank": 1, "product": product})
    assert forged.status_code == 400 and "search_id" in forged.json()["error"]["details"]
    bad = client.post("/api/v1/search/opened/", {"search_id": body["search_id"], "rank": 0, "product": "x"})
    assert bad.status_code == 400


def test_widget_channel_and_a_bad_channel(api_shop):
    api_shop.post("/api/v1/search/?channel=widget", {"text": "mug"}, format="json")
    assert only_event().channel == "widget"
    bad = api_shop.post("/api/v1/search/?channel=tv", {"text": "mug"}, format="json")
    assert bad.status_code == 400 and SearchEvent.objects.count() == 1


def test_api_similar_is_recorded(api_shop):
    product = Product.objects.get(sku="DEMO-MUG-RED")
    response = api_shop.get(f"/api/v1/products/{product.pk}/similar/?limit=3")
    assert response.status_code == 200
    event = only_event()
    assert (event.channel, event.kind, event.results) == ("api", "similar", 3)


def test_a_failure_to_record_never_breaks_the_search(client, demo_index, caplog):
    # A real failure: the table is gone for the length of this test's transaction.
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE insights_searchevent RENAME TO insights_searchevent_away")
    page = client.get(reverse(RESULTS), {"q": "mug"})
    assert page.status_code == 200 and page.context["result"].hits
    assert 'href="/products/' in page.content.decode()  # plain links without a kept search
    assert "could not record a search" in caplog.text
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE insights_searchevent_away RENAME TO insights_searchevent")


def test_visitor_hash_is_stable_within_a_day_and_changes_with_the_day(client, demo_index, settings):
    for _ in range(2):
        client.get(reverse(RESULTS), {"q": "mug"}, REMOTE_ADDR="198.51.100.7", HTTP_USER_AGENT="phone")
    client.get(reverse(RESULTS), {"q": "mug"}, REMOTE_ADDR="198.51.100.8", HTTP_USER_AGENT="phone")
    first, again, other = SearchEvent.objects.order_by("pk").values_list("visitor", flat=True)
    assert first == again != other and re.fullmatch(r"[0-9a-f]{16}", first)
    # Tomorrow's salt is another: the same shopper cannot be followed across days.
    cache.delete_many([k for k in [f"insights:visitor-salt:{timezone.now().date().isoformat()}"]])
    visitor_salt_forget()
    client.get(reverse(RESULTS), {"q": "mug"}, REMOTE_ADDR="198.51.100.7", HTTP_USER_AGENT="phone")
    assert SearchEvent.objects.order_by("-pk").first().visitor != first
    settings.SNAPSHELF_INSIGHTS_COUNT_VISITORS = False
    client.get(reverse(RESULTS), {"q": "mug"}, REMOTE_ADDR="198.51.100.7")
    assert SearchEvent.objects.order_by("-pk").first().visitor == ""


def test_retention_deletes_old_searches_and_their_opens(client, demo_index, settings):
    settings.SNAPSHELF_INSIGHTS_RETENTION_DAYS = 30
    client.get(reverse(RESULTS), {"q": "mug"})
    client.get(reverse(RESULTS), {"q": "sneaker"})
    old, new = SearchEvent.objects.order_by("pk")
    client.get(reverse("search:result-open", args=[old.pk, 1, old.product_ids[0]]))
    client.get(reverse("search:result-open", args=[new.pk, 1, new.product_ids[0]]))
    SearchEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=31))
    assert retention_enforce() == (1, 1)
    assert list(SearchEvent.objects.values_list("pk", flat=True)) == [new.pk]
    assert ResultOpen.objects.get().search_id == new.pk
