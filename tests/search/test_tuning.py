"""Tuning the model to the shop: the adapter and its training, a tune run end to end on a small
catalog of a tiny real model (shop photos as search-only images), the tuned embedder loaded from
the database, the gate (a worse candidate waits, a better one is activated), the merchant's
explicit activation and the admin action."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from PIL import Image, ImageDraw

from catalog.models import Product, ProductImage
from catalog.services import product_image_add, product_upsert
from insights.models import SelfTestRun
from insights.services.self_test import self_test_create, self_test_run
from search.embedders.adapter import AdaptedEmbedder, LowRankAdapter
from search.embedders.base import EmbedderLoadError
from search.embedders.registry import embedder_clear_cache, embedder_get, embedder_spaces
from search.models import EmbeddingModel, EmbeddingStatus, ImageEmbedding, ModelAdapter
from search.services.index_queue import embeddings_process_available
from search.services.model_switch import candidate_gate_request, embedding_model_activate, embedding_model_active
from search.services.product_search import NO_FILTERS, SearchQuery, product_filter_build, product_search
from search.services.tuning import shop_photos_held_out, tuned_model_held_out
from search.services.vector_legs import products_nearest
from search.shopper_photos import shopper_photo
from search.tasks import model_tune
from search.tuning import TrainingPhotos, TuneError, TuneOptions, adapter_train
from search.vector_store import neighbours_exact, neighbours_hnsw, vectors_of_images
from tests.search.search_fixtures import noise, png

# --- the adapter and its training (no database) ----------------------------------------------


def domain_shifted(seed: int, *, products: int = 24, shop_per_product: int = 4, dim: int = 32):
    """Catalog photos near their product's centre; shop photos of the same products all moved
    one way (another camera, other light) and noisier: the gap an adapter closes."""
    rng = np.random.default_rng(seed)  # the photos' noise; the products and the shift stay the same
    centres = np.random.default_rng(42).normal(size=(products, dim))
    shift = np.random.default_rng(99).normal(size=dim) * 4
    catalog = centres + 0.2 * rng.normal(size=centres.shape)
    shop = (
        np.repeat(centres, shop_per_product, axis=0) + shift + 1.2 * rng.normal(size=(products * shop_per_product, dim))
    )

    def unit(x: np.ndarray) -> np.ndarray:
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    return unit(catalog), unit(shop), np.repeat(np.arange(products), shop_per_product)


def shop_to_catalog_recall(catalog: np.ndarray, shop: np.ndarray, owners: np.ndarray) -> float:
    return float(np.mean(np.argmax(shop @ catalog.T, axis=1) == owners))


def test_a_trained_adapter_brings_unseen_shop_photos_to_their_catalog_photo():
    catalog, shop, owners = domain_shifted(0)
    photos = TrainingPhotos(
        vectors=np.concatenate([catalog, shop]),
        products=np.concatenate([np.arange(len(catalog)), owners]),
        shop=np.concatenate([np.zeros(len(catalog), bool), np.ones(len(shop), bool)]),
    )
    adapter, report = adapter_train(photos, TuneOptions(rank=16, steps=300))
    assert report.products == 24 and report.photos == 24 * 5 and report.shop_photos == 96
    assert report.loss_last < report.loss_first
    # Shop photos the adapter never saw (same products, new noise).
    _, unseen, unseen_owners = domain_shifted(1)
    before = shop_to_catalog_recall(catalog, unseen, unseen_owners)
    after = shop_to_catalog_recall(adapter.apply(catalog), adapter.apply(unseen), unseen_owners)
    assert before < 0.5 and after >= before + 0.3, (before, after)  # measured 0.43 -> 0.94


def test_adapter_weights_round_trip_and_refuse_what_does_not_fit():
    rng = np.random.default_rng(0)
    adapter = LowRankAdapter(
        down=rng.normal(size=(8, 3)).astype(np.float32), up=rng.normal(size=(3, 8)).astype(np.float32)
    )
    again = LowRankAdapter.from_bytes(adapter.to_bytes())
    assert np.array_equal(again.down, adapter.down) and again.digest() == adapter.digest()
    vectors = adapter.apply(rng.normal(size=(5, 8)))
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    wrong = LowRankAdapter(down=adapter.down, up=adapter.up[:, :4])
    with pytest.raises(ValueError, match="do not fit"):
        LowRankAdapter.from_bytes(wrong.to_bytes())


def test_an_adapted_vector_gives_back_its_base_vectors_direction():
    rng = np.random.default_rng(1)
    adapter = LowRankAdapter(
        down=rng.normal(size=(16, 4)).astype(np.float32), up=(0.5 * rng.normal(size=(4, 16))).astype(np.float32)
    )
    base = rng.normal(size=(6, 16)).astype(np.float32)
    recovered = adapter.unapply(adapter.apply(base))
    assert np.allclose(recovered, base / np.linalg.norm(base, axis=1, keepdims=True), atol=1e-5)


def test_a_tuned_embedder_judges_no_exact_match_in_its_base_models_spaces(tiny_models):
    """The offline preset's classifier space and kinds, through an adapter: the same as the base
    model's for the vectors the adapter made, and named so without loading the adapter."""
    base = embedder_get("offline")
    rng = np.random.default_rng(2)
    adapter = LowRankAdapter(
        down=(0.1 * rng.normal(size=(base.image_dim, 8))).astype(np.float32),
        up=(0.1 * rng.normal(size=(8, base.image_dim))).astype(np.float32),
    )
    tuned = AdaptedEmbedder(base=base, adapter=adapter)
    assert (tuned.match_space, tuned.kind_space) == (base.match_space, base.kind_space) != ("", "")
    photos = [noise(7, 96), noise(8, 96)]
    base_vectors = base.embed_query_images(photos)
    adapted = tuned.embed_query_images(photos)
    assert not np.allclose(adapted, base_vectors, atol=1e-3)  # the adapter moved them
    assert np.allclose(tuned.match_vectors(adapted), base.match_vectors(base_vectors), atol=1e-4)
    assert np.allclose(tuned.kind_probabilities(adapted), base.kind_probabilities(base_vectors), atol=1e-5)
    assert tuned.kind_descriptions() == base.kind_descriptions()
    spaces = (base.match_space, base.kind_space)
    assert embedder_spaces("offline+tuned-1+tuned-2") == embedder_spaces("offline") == spaces


def test_training_needs_two_products_with_a_pair():
    one = TrainingPhotos(vectors=np.eye(4, dtype=np.float32), products=np.array([1, 1, 2, 3]), shop=np.zeros(4, bool))
    with pytest.raises(TuneError, match="1 product"):
        adapter_train(one)


# --- a shop: products with catalog photos and search-only shop photos ---------------------------

PRODUCTS = 10


def shop_catalog(*, shop_photos: int = 2) -> list[Product]:
    """Products with one catalog photo (random pixels of their own) and shop-like copies of it
    as search-only photos, embedded by the active model."""
    products = []
    for n in range(PRODUCTS):
        product, _ = product_upsert(sku=f"TUNE-{n}", title=f"Tuned item {n}")
        photo = noise(300 + n, 96)
        product_image_add(product=product, data=png(photo))
        for k in range(shop_photos):
            product_image_add(product=product, data=png(shopper_photo(photo, seed=1000 * n + k)), search_only=True)
        products.append(product)
    embeddings_process_available()
    return products


def adapter_store(base: EmbeddingModel, adapter: LowRankAdapter, held_out: list[int] | None = None) -> ModelAdapter:
    return ModelAdapter.objects.create(
        base=base, base_name=base.name, weights=adapter.to_bytes(), digest=adapter.digest(),
        dim=adapter.dim, rank=adapter.rank, training={"held_out_images": held_out or []},
    )  # fmt: skip


def collapsing(dim: int) -> LowRankAdapter:
    """An adapter that sends every vector to one direction: it finds nothing."""
    return LowRankAdapter(
        down=np.eye(dim, dtype=np.float32), up=(np.ones((dim, dim)) / dim - np.eye(dim)).astype(np.float32)
    )


def identity(dim: int) -> LowRankAdapter:
    return LowRankAdapter(down=np.eye(dim, 2, dtype=np.float32), up=np.zeros((2, dim), dtype=np.float32))


def candidate_build(adapter_row: ModelAdapter) -> EmbeddingModel:
    """Build a gated candidate in-process, as a worker does; it waits once built."""
    embedding_model_activate(adapter_row.model_name, gated=True)
    embeddings_process_available()
    return EmbeddingModel.objects.get(name=adapter_row.model_name)


@pytest.mark.django_db
def test_a_tune_run_end_to_end(tiny_models, settings, capsys):
    settings.SNAPSHELF_INSIGHTS_SELF_TEST_SAMPLE = PRODUCTS
    base = embedding_model_activate("offline")
    shop_catalog()
    call_command("search_model", "tune", "--inline", "--steps", "60", "--rank", "8")
    out = capsys.readouterr().out
    adapter = ModelAdapter.objects.get()
    name = adapter.model_name
    assert name == f"offline+tuned-{adapter.pk}" and f"Learned {name} over offline: {PRODUCTS} products" in out
    assert adapter.training["shop_photos"] == 2 * PRODUCTS and adapter.training["photos"] == 3 * PRODUCTS
    tuned = EmbeddingModel.objects.get(name=name)
    # Its own model id and vectors: the base's vectors through the adapter (no forward pass).
    assert tuned.model_id.startswith(base.model_id + "+adapter-") and tuned.model_id != base.model_id
    weights = LowRankAdapter.from_bytes(adapter.weights)
    image_ids = list(ImageEmbedding.objects.filter(model=base).values_list("image_id", flat=True))
    assert ImageEmbedding.objects.filter(model=tuned, status=EmbeddingStatus.READY).count() == len(image_ids) == 30
    base_vectors, tuned_vectors = vectors_of_images(base, image_ids), vectors_of_images(tuned, image_ids)
    for image_id in image_ids:
        assert np.allclose(tuned_vectors[image_id], weights.apply(base_vectors[image_id][None])[0], atol=1e-5)
    # Too few shop photos to hold some out (about 4 of 20 at the share 0.2; 20 needed): all of them
    # trained, and the gate ran on shopper-like copies of catalog photos (two self-tests, same
    # photos) and decided; the command says so and what it decided.
    assert adapter.training["held_out_images"] == [] and "No shop photos held out (too few)" in out
    assert tuned.status in (EmbeddingModel.Status.ACTIVE, EmbeddingModel.Status.WAITING) and not tuned.gated
    assert (
        "Self-test on 10 shopper-like copies of catalog photos (seed 0; no held-out shop photos" in tuned.gate_verdict
    )
    assert tuned.gate_verdict in out
    runs = SelfTestRun.objects.order_by("pk")
    assert [(r.model_name, r.source, r.queries) for r in runs] == [
        ("offline", "copies", PRODUCTS), (name, "copies", PRODUCTS),
    ]  # fmt: skip
    better = "Better: activated by the gate." in tuned.gate_verdict
    assert (embedding_model_active().name == name) == better == (tuned.status == EmbeddingModel.Status.ACTIVE)
    # A query photo goes through the adapter too.
    photo = shopper_photo(noise(303, 96), seed=77)
    query = embedder_get(name).embed_query_images([photo])
    assert np.allclose(query, weights.apply(embedder_get("offline").embed_query_images([photo])), atol=1e-5)
    assert product_search(SearchQuery(image=photo, limit=3), model=tuned).hits


@pytest.mark.django_db
def test_the_tuned_embedder_loads_from_the_database_in_any_process(tiny_models):
    base = embedding_model_activate("tiny")
    row = adapter_store(base, identity(embedder_get("tiny").image_dim))
    embedder_clear_cache()  # another process: nothing loaded yet
    embedder = embedder_get(row.model_name)
    assert isinstance(embedder, AdaptedEmbedder) and embedder.base is embedder_get("tiny")
    assert embedder.model_id == f"{base.model_id}+adapter-{row.digest[:16]}"
    with pytest.raises(EmbedderLoadError, match="its adapter is not in the database"):
        embedder_get(f"tiny+tuned-{row.pk + 1}")


@pytest.mark.django_db
def test_the_gate_keeps_a_worse_candidate_waiting_until_the_merchant_activates_it(tiny_models, settings, admin_client):
    settings.SNAPSHELF_INSIGHTS_SELF_TEST_SAMPLE = PRODUCTS
    base = embedding_model_activate("offline")
    shop_catalog()
    worse = candidate_build(adapter_store(base, collapsing(base.image_dim)))
    assert worse.status == EmbeddingModel.Status.WAITING and worse.gated  # built, not active
    assert embedding_model_active() == base
    candidate_gate_request(worse, inline=True)
    worse.refresh_from_db()
    assert worse.status == EmbeddingModel.Status.WAITING and not worse.gated
    assert "Not better: it waits for the merchant." in worse.gate_verdict
    assert embedding_model_active() == base
    candidate_gate_request(worse, inline=True)  # judged once: a second request changes nothing
    assert EmbeddingModel.objects.get(pk=worse.pk).gate_verdict == worse.gate_verdict
    # The models page shows both self-tests side by side, the verdict and the button.
    page = admin_client.get(reverse("admin:search_embeddingmodel_changelist")).content.decode()
    section = page.split('id="self-test-compare"')[1].split("</table>")[0]
    assert f"<td>{worse.name}</td><td>Built, waiting</td>" in section and "<td>offline</td><td>Active</td>" in section
    assert section.count("/admin/insights/selftestrun/") >= 2 and "not tested yet" not in section
    assert "Not better: it waits for the merchant." in section and f'id="activate-{worse.pk}"' in section
    # The merchant activates it anyway.
    activate = reverse("admin:search_embeddingmodel_activate", args=[worse.pk])
    response = admin_client.post(activate, follow=True)
    assert f"Activating {worse.name}." in response.content.decode()
    embeddings_process_available()
    worse.refresh_from_db()
    assert worse.status == EmbeddingModel.Status.ACTIVE and embedding_model_active() == worse
    assert worse.gate_verdict.endswith("Activated by the merchant.")
    again = admin_client.post(activate, follow=True).content.decode()
    assert "Only a built model waiting for activation can be activated here." in again
    assert admin_client.get(activate).status_code == 403


@pytest.mark.django_db
def test_the_gate_activates_a_better_candidate(tiny_models, settings):
    settings.SNAPSHELF_INSIGHTS_SELF_TEST_SAMPLE = PRODUCTS
    base = embedding_model_activate("offline")
    shop_catalog()
    # A bad tuned model is active (the merchant chose it); the plain base model's vectors are better.
    bad = candidate_build(adapter_store(base, collapsing(base.image_dim)))
    embedding_model_activate(bad.name)
    embeddings_process_available()
    assert embedding_model_active().name == bad.name
    better = candidate_build(adapter_store(base, identity(base.image_dim)))
    candidate_gate_request(better, inline=True)
    better.refresh_from_db()
    assert "Better: activated by the gate." in better.gate_verdict, better.gate_verdict
    assert better.status == EmbeddingModel.Status.ACTIVE and embedding_model_active() == better


@pytest.mark.django_db
def test_tune_refuses_a_catalog_without_pairs_and_bad_options(tiny_models):
    embedding_model_activate("tiny")
    shop_catalog(shop_photos=0)
    with pytest.raises(CommandError, match="0 product"):
        call_command("search_model", "tune", "--inline")
    with pytest.raises(CommandError, match="--steps must be at least 1"):
        call_command("search_model", "tune", "--steps", "0")
    assert not ModelAdapter.objects.exists()


@pytest.mark.django_db
def test_the_admin_action_tunes_the_active_model_in_the_background(
    tiny_models, admin_client, django_capture_on_commit_callbacks
):
    base = embedding_model_activate("tiny")
    url = reverse("admin:search_embeddingmodel_changelist")
    # Too few photos: said at once, nothing queued.
    product, _ = product_upsert(sku="LONE-1", title="Lone item")
    product_image_add(product=product, data=png(noise(1, 64)))
    embeddings_process_available()
    response = admin_client.post(url, {"action": "tune_to_shop", "_selected_action": [base.pk]}, follow=True)
    assert "Tuning needs at least 2 products with two or more indexed photos; 0 have them." in response.content.decode()
    shop_catalog()
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(url, {"action": "tune_to_shop", "_selected_action": [base.pk]}, follow=True)
    assert "Tuning tiny in the background." in response.content.decode() and len(callbacks) == 1
    model_tune(base.pk)  # what the worker runs
    adapter = ModelAdapter.objects.get()
    tuned = EmbeddingModel.objects.get(name=adapter.model_name)
    assert tuned.status == EmbeddingModel.Status.BUILDING and tuned.gated
    assert adapter.training["products"] == PRODUCTS
    # Only the active model can be tuned.
    response = admin_client.post(url, {"action": "tune_to_shop", "_selected_action": [tuned.pk]}, follow=True)
    assert "Select the active model (only it) to tune." in response.content.decode()


# --- the gate judges on shop photos held out of training --------------------------------------


SHOP_PRODUCTS = 24


def coloured(n: int, size: int = 96) -> Image.Image:
    """A catalog photo: a shape in the product's own strong colour on white, a little texture."""
    rng = np.random.default_rng(500 + n)
    image = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    hue = int(n * 256 / SHOP_PRODUCTS) % 256
    colour = Image.new("HSV", (1, 1), (hue, 230, 220)).convert("RGB").getpixel((0, 0))
    box = [int(v) for v in rng.integers(8, 24, 2)] + [int(v) for v in rng.integers(72, 90, 2)]
    (draw.ellipse if n % 2 else draw.rectangle)(box, fill=colour)
    pixels = np.asarray(image).astype(np.int16) + rng.integers(-12, 12, (size, size, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def on_the_shelf(photo: Image.Image, seed: int) -> Image.Image:
    """A shop photo from one shop: the product small, tilted, somewhere on the same wooden shelf
    in front of the same row of boxes, the light a little different each time. The shelf is the
    shift every shop photo shares and no catalog photo has (the shopper-like copies put products
    on random code-drawn backgrounds instead)."""
    rng = np.random.default_rng(seed)
    size = photo.width
    shelf = Image.new("RGB", (size, size), (120, 84, 52))
    draw = ImageDraw.Draw(shelf)
    for top in range(0, size, size // 4):
        draw.rectangle([0, top, size, top + size // 16], fill=(70, 48, 30))
        for left in range(0, size, size // 6):
            draw.rectangle(
                [left + 2, top + size // 16 + 3, left + size // 7, top + size // 4 - 3], fill=(200, 190, 150)
            )
    light = np.asarray(shelf).astype(np.float32) * rng.uniform(0.8, 1.2) + rng.normal(0, 8, (size, size, 3))
    scene = Image.fromarray(np.clip(light, 0, 255).astype(np.uint8))
    side = int(size * rng.uniform(0.35, 0.5))
    product = photo.resize((side, side)).rotate(float(rng.uniform(-10, 10)), fillcolor=(255, 255, 255))
    mask = Image.fromarray((np.asarray(product).min(axis=2) < 235).astype(np.uint8) * 255)
    scene.paste(product, tuple(int(v) for v in rng.integers(0, size - side, 2)), mask)
    return scene


def shelf_shop(*, shop_photos: int, photo_of=None) -> list[Product]:  # type: ignore[no-untyped-def]
    """Products with one catalog photo each and ``shop_photos`` shop photos (search-only): shelf
    photos, or what ``photo_of(catalog photo, seed)`` makes."""
    photo_of = photo_of or on_the_shelf
    products = []
    for n in range(SHOP_PRODUCTS):
        product, _ = product_upsert(sku=f"SHELF-{n}", title=f"Shelf item {n}")
        photo = coloured(n)
        product_image_add(product=product, data=png(photo))
        for k in range(shop_photos):
            product_image_add(product=product, data=png(photo_of(photo, 2000 * n + k)), search_only=True)
        products.append(product)
    embeddings_process_available()
    return products


@pytest.mark.django_db
def test_a_share_of_each_products_shop_photos_is_held_out_with_the_seed(tiny_models, settings):
    base = embedding_model_activate("tiny")
    shelf_shop(shop_photos=2)  # 48 shop photos: 0.2 x 2 rounds to one or none per product
    assert shop_photos_held_out(base, seed=0) == []  # about 10, fewer than SEARCH_TUNE_HOLD_OUT_MIN (20)
    settings.SNAPSHELF_SEARCH_TUNE_HOLD_OUT_MIN = 5
    held_out = shop_photos_held_out(base, seed=0)
    owners = list(ProductImage.objects.filter(pk__in=held_out, search_only=True).values_list("product_id", flat=True))
    assert 5 <= len(held_out) <= 16 and len(owners) == len(set(owners)) == len(held_out), held_out
    assert shop_photos_held_out(base, seed=0) == held_out and shop_photos_held_out(base, seed=1) != held_out
    settings.SNAPSHELF_SEARCH_TUNE_HOLD_OUT_SHARE = 0.5  # exactly one of each product's two
    half = shop_photos_held_out(base, seed=0)
    owners = list(ProductImage.objects.filter(pk__in=half, search_only=True).values_list("product_id", flat=True))
    assert sorted(owners) == sorted(Product.objects.values_list("pk", flat=True))


@pytest.mark.django_db
def test_the_same_catalog_holds_out_the_same_photos_in_any_database(tiny_models, settings):
    """The draw follows SKUs and image bytes, not ids: the same shop built again after other rows
    have used up ids (as in a database a test suite has used) holds out the same photos."""
    settings.SNAPSHELF_SEARCH_TUNE_HOLD_OUT_MIN = 5
    base = embedding_model_activate("tiny")
    shelf_shop(shop_photos=3)

    def held_out_photos() -> list[tuple[str, str]]:
        held = ProductImage.objects.filter(pk__in=shop_photos_held_out(base, seed=0))
        return sorted(held.values_list("product__sku", "sha256"))

    first = held_out_photos()
    assert len(first) >= 5
    old_products, old_images = (
        max(Product.objects.values_list("pk", flat=True)),
        max(ProductImage.objects.values_list("pk", flat=True)),
    )
    Product.objects.all().delete()  # and their images and vectors
    shelf_shop(shop_photos=3)
    # Every product and image has another id now.
    assert (
        Product.objects.filter(pk__lte=old_products).count()
        == ProductImage.objects.filter(pk__lte=old_images).count()
        == 0
    )
    assert held_out_photos() == first


@pytest.mark.django_db
def test_a_search_can_leave_images_out_of_the_catalog_on_every_vector_path(tiny_models):
    model = embedding_model_activate("tiny")
    shelf_shop(shop_photos=2)
    shop = ProductImage.objects.filter(search_only=True).order_by("pk")
    asked, others = shop[0], [image.pk for image in shop[1:4]]
    photo = Image.open(asked.file.path).convert("RGB")
    found = product_search(SearchQuery(image=photo, limit=3))
    assert found.best_distance < 1e-5  # it finds itself
    excluded = frozenset([asked.pk, *others])
    left_out = product_search(SearchQuery(image=photo, limit=3, images_excluded=excluded))
    assert left_out.hits and left_out.best_distance > found.best_distance
    # The index path, the exact path and the products' best-images ranking all leave them out.
    vector = embedder_get("tiny").embed_query_images([photo])[0]
    product_filter = product_filter_build(NO_FILTERS, images_excluded=excluded)
    assert neighbours_hnsw(model, "image", vector, limit=5)[0].item_id == asked.pk
    for rows in (
        neighbours_hnsw(model, "image", vector, limit=100, product_filter=product_filter),
        neighbours_exact(model, "image", vector, limit=100, product_filter=product_filter),
    ):
        assert len(rows) == 3 * SHOP_PRODUCTS - len(excluded) and not {r.item_id for r in rows} & excluded
    matches = products_nearest(model, "image", vector, products=3, product_filter=product_filter, best_images=3)
    assert matches and not {m.image_id for m in matches} & excluded


@pytest.mark.django_db
def test_a_tune_run_is_judged_on_the_shop_photos_held_out_of_its_training(tiny_models, settings, capsys):
    """Every shop photo shows its product small on the same shelf. Learned from two such photos of
    each of 24 products, the adapter finds the products of the shelf photos it did not see more
    often, while on shopper-like copies of catalog photos (random backgrounds) it does worse: the
    gate asks the held-out shop photos and activates it."""
    settings.SNAPSHELF_SEARCH_TUNE_HOLD_OUT_SHARE = 1 / 3  # one of each product's three shop photos
    base = embedding_model_activate("offline")
    shelf_shop(shop_photos=3)
    call_command("search_model", "tune", "--inline", "--steps", "300", "--rank", "16")
    out = capsys.readouterr().out
    adapter = ModelAdapter.objects.get()
    held_out = adapter.training["held_out_images"]
    assert held_out == shop_photos_held_out(base, seed=0) and len(held_out) == SHOP_PRODUCTS
    assert "24 shop photos held out of training: its gate will ask them." in out
    # Trained without them: the catalog photo and two shop photos of each product.
    assert adapter.training["photos"] == 3 * SHOP_PRODUCTS and adapter.training["shop_photos"] == 2 * SHOP_PRODUCTS
    tuned = EmbeddingModel.objects.get(name=adapter.model_name)
    assert tuned_model_held_out(tuned) == held_out
    # The gate's two self-tests asked exactly the held-out photos, with them out of the catalog.
    before, after = SelfTestRun.objects.order_by("pk")
    for run, model in ((before, base), (after, tuned)):
        assert run.model == model and run.source == SelfTestRun.Source.HELD_OUT
        assert run.held_out_images == held_out and run.queries == len(held_out)
    assert before.recall_at_1 < 1.0  # with them counted as catalog images, each would find itself
    assert "Self-test on 24 held-out shop photos (of 24 search-only photos kept out of training" in tuned.gate_verdict
    assert tuned.gate_verdict in out
    print(f"held-out recall@1: {before.recall_at_1} -> {after.recall_at_1}")
    assert after.recall_at_1 > before.recall_at_1 and after.recall_at_10 >= before.recall_at_10
    tuned.refresh_from_db()
    assert "Better: activated by the gate." in tuned.gate_verdict
    assert tuned.status == EmbeddingModel.Status.ACTIVE and embedding_model_active() == tuned
    # On shopper-like copies of the catalog photos (the first gate's evidence) it looks worse.
    copies = [self_test_run(self_test_create(model=model, sample=SHOP_PRODUCTS)) for model in (base, tuned)]
    print(f"copies recall@1: {copies[0].recall_at_1} -> {copies[1].recall_at_1}")
    assert copies[1].recall_at_1 < copies[0].recall_at_1


@pytest.mark.django_db
def test_the_gate_keeps_a_candidate_worse_on_held_out_shop_photos_waiting(tiny_models, settings, admin_client):
    settings.SNAPSHELF_SEARCH_TUNE_HOLD_OUT_SHARE = 0.5  # one of each product's two shop photos
    settings.SNAPSHELF_SEARCH_TUNE_HOLD_OUT_MIN = SHOP_PRODUCTS
    base = embedding_model_activate("tiny")
    # Photos the tiny model finds (its catalog photo a little turned); the collapsing adapter finds nothing.
    shelf_shop(shop_photos=2, photo_of=lambda photo, seed: photo.rotate(seed % 7 - 3, fillcolor=(255, 255, 255)))
    held_out = shop_photos_held_out(base, seed=0)
    worse = candidate_build(adapter_store(base, collapsing(base.image_dim), held_out))
    ProductImage.objects.filter(pk=held_out[0]).delete()  # the merchant deleted one meanwhile
    assert tuned_model_held_out(worse) == []  # 23 left: fewer than the minimum
    settings.SNAPSHELF_SEARCH_TUNE_HOLD_OUT_MIN = 23
    assert tuned_model_held_out(worse) == held_out[1:]
    candidate_gate_request(worse, inline=True)
    worse.refresh_from_db()
    assert worse.status == EmbeddingModel.Status.WAITING and embedding_model_active() == base
    assert worse.gate_verdict.startswith("Self-test on 23 held-out shop photos (of 23 search-only photos")
    assert "Not better: it waits for the merchant." in worse.gate_verdict
    runs = SelfTestRun.objects.filter(source=SelfTestRun.Source.HELD_OUT)
    assert sorted(run.model_name for run in runs) == sorted([base.name, worse.name])
    page = admin_client.get(reverse("admin:search_embeddingmodel_changelist")).content.decode()
    section = page.split('id="self-test-compare"')[1].split("</table>")[0]
    assert section.count('<td class="self-test-photos">23 held-out shop photos</td>') == 2
