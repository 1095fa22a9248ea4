import pytest
from django.urls import reverse

from catalog.services import product_image_add, product_upsert
from search.models import ImageEmbedding
from search.services.index_queue import embeddings_process_available
from search.services.model_switch import embedding_model_activate
from tests.sample_images import image_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def indexed_catalog(tiny_models):
    embedding_model_activate("tiny")
    good, _ = product_upsert(sku="ADM-GOOD", title="Good lamp")
    product_image_add(product=good, data=image_bytes((10, 200, 10)))
    bad, _ = product_upsert(sku="ADM-BAD", title="Broken lamp")
    broken, _ = product_image_add(product=bad, data=image_bytes((200, 10, 10)))
    broken.file.open("wb").write(b"not an image any more")
    embeddings_process_available()
    return good, bad


def test_product_list_shows_badges_and_filters_by_status(admin_client, indexed_catalog):
    url = reverse("admin:catalog_product_changelist")
    page = admin_client.get(url).content.decode()
    assert ">ready</span>" in page and ">failed</span>" in page
    failed_only = admin_client.get(url, {"index_status": "failed"}).content.decode()
    assert "Broken lamp" in failed_only and "Good lamp" not in failed_only


def test_image_inline_shows_the_error(admin_client, indexed_catalog):
    _, bad = indexed_catalog
    page = admin_client.get(reverse("admin:catalog_product_change", args=[bad.pk])).content.decode()
    assert "not an image" in page


def test_actions_queue_items_again(admin_client, indexed_catalog):
    good, bad = indexed_catalog
    url = reverse("admin:catalog_product_changelist")
    response = admin_client.post(url, {"action": "reembed_selected", "_selected_action": [good.pk]}, follow=True)
    assert "items queued for embedding" in response.content.decode()
    assert ImageEmbedding.objects.get(product=good).status == "pending"
    response = admin_client.post(url, {"action": "embed_missing_and_failed", "_selected_action": [good.pk]})
    assert ImageEmbedding.objects.get(product=bad).status == "pending"


def test_index_page(admin_client, indexed_catalog):
    page = admin_client.get(reverse("admin:search_embeddingmodel_changelist")).content.decode()
    assert "Active model:" in page and "tiny" in page
    assert "Queue depth:" in page and "Recent errors" in page and "not an image" in page
