"""The indexing pipeline in-process: marking, claiming, embedding, model switches, commands."""

from __future__ import annotations

import io
from datetime import timedelta

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from catalog.services import product_image_add, product_image_replace_file, product_upsert
from search.models import ImageEmbedding, ProductEmbedding
from search.services.index_queue import (
    embeddings_claim,
    embeddings_process_available,
    embeddings_release_stale_claims,
)
from search.services.model_switch import (
    embedding_model_activate,
    embedding_model_active,
    embedding_model_bootstrap,
    embedding_model_prune,
)
from search.vector_store import (
    VectorWrite,
    hnsw_index_names_present,
    image_vector_counts,
    neighbours_hnsw,
    vector_literal,
    vectors_write,
)
from tests.sample_images import image_bytes

pytestmark = pytest.mark.django_db


def product_with_image(sku: str, colour=(200, 30, 30)):
    product, _ = product_upsert(sku=sku, title=f"Product {sku}", attributes={"colour": "red"})
    image, _ = product_image_add(product=product, data=image_bytes(colour))
    return product, image


def test_new_install_builds_the_default_model_and_indexes_it(tiny_models):
    product, image = product_with_image("P-1")
    model = embedding_model_bootstrap()
    assert model is not None and model.name == "tiny" and model.status == "building"
    assert ImageEmbedding.objects.get(image=image).status == "pending"
    result = embeddings_process_available()
    assert result.ready == 2  # one image, one product text
    model.refresh_from_db()
    assert model.status == "active"
    row = ImageEmbedding.objects.get(image=image, model=model)
    assert row.status == "ready" and row.source_hash == image.sha256 and row.attempts == 1
    assert len(row.embedding) == model.image_dim
    assert np.isclose(np.linalg.norm(row.embedding), 1.0, atol=1e-3)
    assert ProductEmbedding.objects.get(product=product, model=model).status == "ready"
    assert len(hnsw_index_names_present(model)) == 2
    assert embedding_model_bootstrap() is None  # a stored decision: not re-decided


def test_saving_marks_pending_and_unchanged_bytes_are_not_embedded_again(tiny_models):
    embedding_model_activate("tiny")
    product, image = product_with_image("P-2")
    embeddings_process_available()
    row = ImageEmbedding.objects.get(image=image)
    assert row.status == "ready"
    image.alt_text = "new alt text"
    image.save()
    product_image_add(product=product, data=image_bytes((200, 30, 30)))  # same bytes again
    row.refresh_from_db()
    assert row.status == "ready" and row.attempts == 1
    product_upsert(sku="P-2", title="Renamed")
    assert ProductEmbedding.objects.get(product=product).status == "pending"


def test_undecodable_image_fails_at_once_and_does_not_hold_up_others(tiny_models):
    embedding_model_activate("tiny")
    _, broken = product_with_image("P-3")
    _, fine = product_with_image("P-4", colour=(10, 200, 10))
    with open(broken.file.path, "wb") as handle:
        handle.write(b"these bytes are not an image")
    embeddings_process_available()
    failed = ImageEmbedding.objects.get(image=broken)
    assert failed.status == "failed" and "not an image" in failed.error
    assert ImageEmbedding.objects.get(image=fine).status == "ready"


def test_model_errors_are_retried_with_backoff_then_recorded(tiny_models, settings, monkeypatch):
    settings.SNAPSHELF_INDEX_MAX_ATTEMPTS = 2
    embedding_model_activate("tiny")
    _, image = product_with_image("P-5")
    from search.embedders.clip import ClipEmbedder

    def broken(self, images):
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr(ClipEmbedder, "_image_batch_embed", broken)
    embeddings_process_available()
    row = ImageEmbedding.objects.get(image=image)
    assert row.status == "pending" and row.attempts == 1 and row.available_at > timezone.now()
    assert "out of memory" in row.error
    ImageEmbedding.objects.filter(pk=row.pk).update(available_at=timezone.now())
    embeddings_process_available()
    row.refresh_from_db()
    assert row.status == "failed" and "gave up after 2 attempts" in row.error


def test_stale_claims_go_back_to_pending(tiny_models, settings):
    model = embedding_model_activate("tiny")
    _, image = product_with_image("P-6")
    assert embeddings_claim("image", model, limit=10, worker="dead-worker:1")
    assert embeddings_release_stale_claims() == 0
    ImageEmbedding.objects.filter(image=image).update(claimed_at=timezone.now() - timedelta(hours=1))
    assert embeddings_release_stale_claims() == 1
    embeddings_process_available()
    assert ImageEmbedding.objects.get(image=image).status == "ready"


def test_result_of_a_worker_whose_claim_was_voided_is_discarded(tiny_models):
    model = embedding_model_activate("tiny")
    _, image = product_with_image("P-7")
    embeddings_claim("image", model, limit=10, worker="slow-worker:1")
    claimed = ImageEmbedding.objects.get(image=image)
    assert (claimed.status, claimed.claimed_by) == ("processing", "slow-worker:1")
    # The image's bytes change while the slow worker holds its claim: the claim is voided.
    product_image_replace_file(image=image, data=image_bytes((0, 0, 250)))
    row = ImageEmbedding.objects.get(image=image)
    assert (row.status, row.claimed_by, row.source_hash) == ("pending", "", image.sha256)
    stale = VectorWrite(row.pk, np.ones(model.image_dim, dtype=np.float32), claimed.source_hash)
    assert vectors_write("image", [stale], worker="slow-worker:1") == 0
    assert ImageEmbedding.objects.get(pk=row.pk).embedding is None


def test_switching_models_keeps_search_on_the_old_one_until_built(tiny_models):
    old = embedding_model_activate("tiny")
    _, image = product_with_image("P-8")
    embeddings_process_available()
    old.refresh_from_db()
    assert old.status == "active"

    new = embedding_model_activate("tiny2")
    assert new.model_id != old.model_id and new.status == "building"
    assert embedding_model_active() == old
    assert ImageEmbedding.objects.get(image=image, model=new).status == "pending"
    embeddings_process_available()
    new.refresh_from_db()
    old.refresh_from_db()
    assert (new.status, old.status) == ("active", "retired")
    assert ImageEmbedding.objects.get(image=image, model=new).status == "ready"
    # A late result for the retired model is discarded.
    late = ImageEmbedding.objects.get(image=image, model=old)
    ImageEmbedding.objects.filter(pk=late.pk).update(status="processing", claimed_by="late:1")
    vector = np.zeros(old.image_dim, dtype=np.float32)
    vector[0] = 1
    assert vectors_write("image", [VectorWrite(late.pk, vector, late.source_hash)], worker="late:1") == 0

    assert embedding_model_prune() == [old]
    assert not ImageEmbedding.objects.filter(model=old).exists()
    assert hnsw_index_names_present(old) == []


def test_image_vector_counts_count_each_products_stored_vectors_of_the_model(tiny_models):
    model = embedding_model_activate("tiny")
    one, _ = product_with_image("P-ONE")
    three, _ = product_with_image("P-THREE", colour=(20, 30, 200))
    for colour in ((20, 200, 30), (200, 200, 30)):
        product_image_add(product=three, data=image_bytes(colour))
    queued, _ = product_upsert(sku="P-QUEUED", title="Queued")
    embeddings_process_available()
    product_image_add(product=queued, data=image_bytes((90, 90, 90)))  # not embedded yet
    assert image_vector_counts(model, [one.pk, three.pk, queued.pk, 10**9]) == {one.pk: 1, three.pk: 3}


def test_deleting_removes_vectors(tiny_models):
    embedding_model_activate("tiny")
    product, image = product_with_image("P-9")
    embeddings_process_available()
    image.delete()
    assert not ImageEmbedding.objects.filter(image_id=image.pk).exists()
    product.delete()
    assert not ProductEmbedding.objects.exists()


def _hnsw_plan(model) -> str:
    """The plan of a nearest-image query written the way search/vector_store.py writes it."""
    precision, dim = model.index_precision, model.image_dim
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        # Once autovacuum has analysed the table (after earlier tests' committed rows), a tiny table
        # makes "btree on model_id, then sort" cheaper; the question here is whether HNSW can serve.
        cursor.execute("SET enable_sort = off")
        query = vector_literal(np.ones(dim, dtype=np.float32))
        cursor.execute(
            f"EXPLAIN SELECT id FROM search_imageembedding WHERE model_id = {model.pk} "
            f"ORDER BY embedding::{precision}({dim}) <=> '{query}'::{precision}({dim}) LIMIT 5"
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_seqscan")
        cursor.execute("RESET enable_sort")
    return plan


@pytest.mark.parametrize(("halfvec", "index_suffix"), [(True, "_half"), (False, "")])
def test_hnsw_index_is_used_for_a_model_query(tiny_models, settings, halfvec, index_suffix):
    settings.SNAPSHELF_HALFVEC_INDEX = halfvec
    model = embedding_model_activate("tiny")
    product_with_image("P-10")
    embeddings_process_available()
    model.refresh_from_db()
    assert model.index_precision == ("halfvec" if halfvec else "vector")
    assert f"search_image_hnsw_{model.pk}{index_suffix} " in _hnsw_plan(model)


def test_reindex_switches_precision_and_search_follows(tiny_models, settings, capsys):
    settings.SNAPSHELF_HALFVEC_INDEX = False
    model = embedding_model_activate("tiny")
    product, _ = product_with_image("P-RI")
    product_with_image("P-RJ", colour=(0, 0, 200))
    embeddings_process_available()
    model.refresh_from_db()
    vector = np.asarray(ImageEmbedding.objects.get(product=product).embedding, dtype=np.float32)
    before = neighbours_hnsw(model, "image", vector, limit=2)
    assert hnsw_index_names_present(model) == [f"search_image_hnsw_{model.pk}", f"search_product_hnsw_{model.pk}"]

    settings.SNAPSHELF_HALFVEC_INDEX = True
    call_command("search_model", "reindex")
    assert "Rebuilt the HNSW indexes of tiny (halfvec)" in capsys.readouterr().out
    model.refresh_from_db()
    assert model.index_precision == "halfvec"
    # The single-precision indexes are gone, the half-precision ones serve the model's queries.
    assert hnsw_index_names_present(model) == [
        f"search_image_hnsw_{model.pk}_half",
        f"search_product_hnsw_{model.pk}_half",
    ]
    assert f"search_image_hnsw_{model.pk}_half " in _hnsw_plan(model)
    after = neighbours_hnsw(model, "image", vector, limit=2)
    assert [n.product_id for n in after] == [n.product_id for n in before]
    assert after[0].distance == pytest.approx(0.0, abs=1e-3)

    call_command("search_model", "reindex")  # same precision: built again under the same names
    assert hnsw_index_names_present(model) == [
        f"search_image_hnsw_{model.pk}_half",
        f"search_product_hnsw_{model.pk}_half",
    ]


def test_reindex_without_an_active_model_is_a_clear_error(tiny_models):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="no active model"):
        call_command("search_model", "reindex")


def test_commands_status_and_inline_rebuild(tiny_models, capsys):
    product_with_image("P-11")
    product_with_image("P-12", colour=(0, 0, 200))
    call_command("search_index", "rebuild", "--inline", "--no-progress")
    out = capsys.readouterr().out
    assert "done: 0 pending, 0 failed." in out
    call_command("search_index", "status")
    out = capsys.readouterr().out
    assert "active model: tiny" in out and "images: pending 0, processing 0, ready 2, failed 0" in out
    call_command("search_index", "rebuild", "--all", "--inline", "--no-progress")
    assert "4 items queued." in capsys.readouterr().out
    call_command("search_model", "activate", "tiny2", "--inline")
    assert "tiny2 is active" in capsys.readouterr().out
    call_command("search_model", "prune")
    assert "pruned tiny" in capsys.readouterr().out


def test_activating_an_unknown_model_is_a_clear_error(tiny_models):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="nonexistent"):
        call_command("search_model", "activate", "nonexistent")


def test_identical_bytes_on_another_product_reuse_the_vector(tiny_models, monkeypatch):
    embedding_model_activate("tiny")
    _, first = product_with_image("DUP-1")
    embeddings_process_available()
    from search.embedders.clip import ClipEmbedder

    calls = []
    original = ClipEmbedder._image_batch_embed
    monkeypatch.setattr(
        ClipEmbedder, "_image_batch_embed", lambda self, images: calls.append(1) or original(self, images)
    )
    _, second = product_with_image("DUP-2")  # same colour, same bytes
    assert second.sha256 == first.sha256
    embeddings_process_available()
    rows = {row.image_id: row for row in ImageEmbedding.objects.all()}
    assert rows[second.pk].status == "ready" and calls == []
    assert np.allclose(rows[second.pk].embedding, rows[first.pk].embedding)


def test_renaming_a_category_requeues_the_text_of_products_below_it(tiny_models):
    from catalog.services import category_get_or_create_path

    embedding_model_activate("tiny")
    inside, _ = product_upsert(sku="CAT-1", title="Lamp", category=category_get_or_create_path("Home > Lighting"))
    product_upsert(sku="CAT-2", title="Mug", category=category_get_or_create_path("Kitchen"))
    embeddings_process_available()
    top = inside.category.parent
    top.name = "Living"
    top.save()
    statuses = dict(ProductEmbedding.objects.values_list("product__sku", "status"))
    assert statuses == {"CAT-1": "pending", "CAT-2": "ready"}
    embeddings_process_available()
    assert ProductEmbedding.objects.get(product=inside).status == "ready"


@pytest.mark.django_db(transaction=True)
def test_the_active_model_is_read_for_every_search_so_a_switch_anywhere_shows_at_once(tiny_models):
    from django.test.utils import CaptureQueriesContext

    from search.models import EmbeddingModel

    old = embedding_model_activate("tiny")
    embeddings_process_available()
    with CaptureQueriesContext(connection) as queries:
        assert embedding_model_active() == old
    assert len(queries) == 1
    embedding_model_activate("tiny2")
    embeddings_process_available()
    assert embedding_model_active().name == "tiny2"
    # A switch made by another process (no signal here) shows at the next read.
    EmbeddingModel.objects.filter(name="tiny2").update(status="retired")
    EmbeddingModel.objects.filter(pk=old.pk).update(status="active")
    assert embedding_model_active() == old


def test_the_worker_makes_thumbnails_from_the_pixels_it_embeds(tiny_models, media_root, monkeypatch):
    from catalog import thumbnails

    _, image = product_with_image("P-T")
    embedding_model_bootstrap()
    opened = []

    def make_counted(image, pixels=None):
        opened.append(pixels is not None)
        return thumbnails.image_thumbnails_make(image, pixels)

    monkeypatch.setattr("search.services.index_queue.image_thumbnails_make", make_counted)
    embeddings_process_available()
    assert opened == [True]  # made in the batch, from its decoded pixels (no second decode)
    image.refresh_from_db()
    assert image.thumbnails_of == image.sha256 and set(image.thumbnails) == {"card", "detail"}
    assert image.card_thumbnail.url != image.file.url
    assert (media_root / image.thumbnails["card"]["name"]).is_file()


def test_the_sweep_makes_missing_thumbnails_where_vectors_were_copied(tiny_models, media_root):
    from catalog.models import ProductImage

    _, first = product_with_image("P-A")
    embedding_model_bootstrap()
    embeddings_process_available()
    # Existing images from before thumbnails were kept, and the same bytes on another product
    # (its vector is copied, nothing is decoded): the end of the worker's run makes theirs.
    ProductImage.objects.update(thumbnails={}, thumbnails_of="")
    _, second = product_with_image("P-B")
    result = embeddings_process_available()
    assert result.thumbnails == 2
    for image in (first, second):
        image.refresh_from_db()
        assert image.thumbnails_of == image.sha256 and image.card_thumbnail.url != image.file.url


def test_a_model_whose_images_mostly_failed_does_not_replace_the_active_one(tiny_models, settings, admin_client):
    from django.urls import reverse

    from search.services.model_switch import embedding_model_activation_finish_if_built

    old = embedding_model_activate("tiny")
    images = [product_with_image(f"F-{n}", (60 * n, 90, 120))[1] for n in range(3)]
    embeddings_process_available()
    for image in images[:2]:  # gone from storage: the new model cannot read them
        image.file.storage.delete(image.file.name)
    new = embedding_model_activate("tiny2")
    embeddings_process_available()
    new.refresh_from_db()
    old.refresh_from_db()
    assert (new.status, old.status) == ("building", "active")
    assert embedding_model_active() == old
    page = admin_client.get(reverse("admin:search_embeddingmodel_changelist")).content.decode()
    assert "tiny2 is built but not activated: 1 of 3 image vectors are ready" in page
    status = io.StringIO()
    call_command("search_index", "status", stdout=status)
    assert "1 of 3 image vectors are ready" in status.getvalue()
    settings.SNAPSHELF_INDEX_ACTIVATE_MIN_READY = 0.3
    assert embedding_model_activation_finish_if_built() == new
    assert embedding_model_active() == new
