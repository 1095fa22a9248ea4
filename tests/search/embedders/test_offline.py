import numpy as np
import torch
from PIL import Image

from search.embedders.offline import (
    CNN_DIM,
    HIST_DIM,
    IMAGE_SIZE,
    KIND_TEMPERATURE,
    _minilm_load,
    foreground_hsv_histogram,
    hsv_bins,
    image_square,
)
from tests.search.embedders.drawings import BLUE, RED, disc, mug, mug_variant, star


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_dims_and_model_id(offline_embedder):
    assert offline_embedder.image_dim == offline_embedder.dim == CNN_DIM + HIST_DIM == 1408
    assert offline_embedder.text_dim == 384
    assert offline_embedder.shared_space is False
    assert offline_embedder.model_id.startswith("offline/efficientnet-lite0@")
    assert "-w0.4|all-minilm-l6-v2@" in offline_embedder.model_id


def test_shapes_norms_and_empty_input(offline_embedder):
    images = offline_embedder.embed_images([mug(RED), Image.new("L", (300, 100), 90)])
    texts = offline_embedder.embed_texts(["red shoe"])
    assert images.shape == (2, 1408) and texts.shape == (1, 384)
    assert images.dtype == texts.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    assert offline_embedder.embed_images([]).shape == (0, 1408)
    assert offline_embedder.embed_texts([]).shape == (0, 384)


def test_batching_does_not_change_vectors(offline_embedder):
    images = [mug(RED), mug(BLUE), star(RED), star(BLUE), disc(RED), disc(BLUE)]  # batch_size is 4
    batched = offline_embedder.embed_images(images)
    one_by_one = np.vstack([offline_embedder.embed_images([image]) for image in images])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    np.testing.assert_array_equal(batched, offline_embedder.embed_images(images))


def test_same_shape_in_another_colour_is_closer_than_another_shape_in_the_same_colour(offline_embedder):
    red_mug, blue_mug, red_star, red_disc = offline_embedder.embed_images([mug(RED), mug(BLUE), star(RED), disc(RED)])
    assert red_mug @ blue_mug > red_mug @ red_star
    assert red_mug @ blue_mug > red_mug @ red_disc


def test_colour_histogram_pulls_same_colour_together(offline_embedder):
    red_mug, red_variant, blue_variant = offline_embedder.embed_images([mug(RED), mug_variant(RED), mug_variant(BLUE)])
    assert red_mug @ red_variant > red_mug @ blue_variant
    # The vector is [cnn, w * hist]: the fused vector separates the colours by more than the CNN alone.
    cnn_margin = _cosine(red_mug[:CNN_DIM], red_variant[:CNN_DIM]) - _cosine(red_mug[:CNN_DIM], blue_variant[:CNN_DIM])
    assert red_mug @ red_variant - red_mug @ blue_variant > 2 * cnn_margin


def test_text_similarity(offline_embedder):
    shoe, sneaker, table = offline_embedder.embed_texts(["red shoe", "crimson sneaker", "kitchen table"])
    assert shoe @ sneaker > shoe @ table + 0.2


def test_image_square_pads_on_white_without_cropping():
    wide = Image.new("RGB", (400, 100), RED)
    square = image_square(wide)
    assert square.size == (IMAGE_SIZE, IMAGE_SIZE)
    pixels = np.asarray(square)
    assert tuple(pixels[0, 0]) == (255, 255, 255)  # padding
    assert tuple(pixels[IMAGE_SIZE // 2, 0]) == RED  # the left end of the product is kept


def test_histogram_ignores_white_background():
    small = Image.new("RGB", (50, 50), "white")
    small.paste(RED, (20, 20, 30, 30))
    large = Image.new("RGB", (50, 50), RED)
    np.testing.assert_allclose(foreground_hsv_histogram(small), foreground_hsv_histogram(large))
    assert foreground_hsv_histogram(Image.new("RGB", (50, 50), "white")).sum() == 0


def test_a_query_photo_counts_its_centre_more_than_its_surroundings(offline_embedder):
    """The product a shopper aims at sits in the middle; the shelf around it should count less."""
    catalog_red, catalog_blue = offline_embedder.embed_images([mug(RED), mug(BLUE)])
    # A red mug in the middle of a frame whose outer ring is a blue mug's photo.
    scene = mug(BLUE).resize((IMAGE_SIZE, IMAGE_SIZE))
    scene.paste(mug(RED).resize((IMAGE_SIZE * 3 // 7, IMAGE_SIZE * 3 // 7)), (IMAGE_SIZE * 2 // 7,) * 2)
    as_catalog = offline_embedder.embed_images([scene])[0]
    as_query = offline_embedder.embed_query_images([scene])[0]

    assert as_query.shape == (1408,) and abs(float(np.linalg.norm(as_query)) - 1.0) < 1e-5
    assert (as_query @ catalog_red - as_query @ catalog_blue) > (as_catalog @ catalog_red - as_catalog @ catalog_blue)


def test_catalog_photos_are_described_as_before_the_query_regions(offline_embedder):
    """Queries changed in fg-hist-v2; catalog vectors did not: the model id changed for the
    calibration's sake, and the catalog vector is still the whole map's mean."""
    assert "+fg-hist-v2-" in offline_embedder.model_id
    image = mug(RED)
    square = np.array(image_square(image))[None]
    from search.embedders.offline import _pixels_normalise

    features = offline_embedder._cnn.extract_features(_pixels_normalise(square))
    cnn = features.mean(dim=(2, 3))[0].detach().numpy()
    vector = offline_embedder.embed_images([image])[0]
    assert _cosine(vector[:CNN_DIM], cnn) > 0.9999


def test_match_vectors_are_the_classifier_logits_of_the_cnn_part(offline_embedder):
    """The no-exact-match space (docs/adr/0011): 1000 ImageNet logits of the CNN part, the colour
    histogram left out; a mug is nearer another mug of another colour there than a star."""
    vectors = offline_embedder.embed_images([mug(RED), mug(BLUE), star(RED)])
    mapped = offline_embedder.match_vectors(vectors)
    assert offline_embedder.match_space == "imagenet-logits-v1"
    assert mapped.shape == (3, 1000) and mapped.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(mapped, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(mapped.sum(axis=1), 0.0, atol=1e-3)  # centred
    other_colours = vectors.copy()
    other_colours[:, CNN_DIM:] = vectors[::-1, CNN_DIM:]  # swap the histograms
    np.testing.assert_allclose(offline_embedder.match_vectors(other_colours), mapped, atol=1e-5)
    assert mapped[0] @ mapped[1] > mapped[0] @ mapped[2]


def test_kind_probabilities_are_the_classifiers_softened_and_described_in_its_order(offline_embedder):
    """The kind check (docs/adr/0013): the same 1000 classes as probabilities at KIND_TEMPERATURE,
    each described by its WordNet lemmas and gloss in the classifier's output order."""
    vectors = offline_embedder.embed_images([mug(RED), star(RED)])
    probabilities = offline_embedder.kind_probabilities(vectors)
    descriptions = offline_embedder.kind_descriptions()
    assert offline_embedder.kind_space == "imagenet-wordnet-v2"
    assert probabilities.shape == (2, 1000) == (2, len(descriptions))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    weight, bias = offline_embedder._cnn._fc.weight, offline_embedder._cnn._fc.bias
    cnn = torch.from_numpy(vectors[:, :CNN_DIM])
    logits = (20.0 * torch.nn.functional.normalize(cnn, dim=1) @ weight.T + bias).detach().numpy()
    expected = np.exp((logits - logits.max(axis=1, keepdims=True)) / KIND_TEMPERATURE)
    np.testing.assert_allclose(probabilities, expected / expected.sum(axis=1, keepdims=True), atol=1e-5)
    assert descriptions[0].startswith("tench, Tinca tinca: freshwater")
    assert descriptions[948].startswith("Granny Smith: apple with a green skin")
    assert descriptions[504].startswith("coffee mug:")
    # Softened: the top class keeps far less than the plain softmax gives it.
    plain = np.exp(logits - logits.max(axis=1, keepdims=True))
    assert probabilities.max() < (plain / plain.sum(axis=1, keepdims=True)).max()


def test_feature_maps_are_what_a_catalog_vector_pools(offline_embedder):
    """benchmarks/search.py pools crop vectors from these maps: the whole map's mean is the
    catalog vector's CNN part."""
    images = [mug(RED), star(BLUE)]
    maps = offline_embedder.feature_maps(images)
    assert maps.shape == (2, CNN_DIM, 7, 7)
    pooled = maps.mean(axis=(2, 3))
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    cnn = offline_embedder.embed_images(images)[:, :CNN_DIM]
    np.testing.assert_allclose(pooled, cnn / np.linalg.norm(cnn, axis=1, keepdims=True), atol=1e-5)


def test_histogram_bins_of_a_region_give_that_crops_histogram():
    square = image_square(mug(RED))
    bins = hsv_bins(square)
    assert bins.shape == (IMAGE_SIZE, IMAGE_SIZE) and (bins == -1).any() and (bins >= 0).any()
    region = bins[32:160, 64:224]
    counts = np.bincount(region[region >= 0], minlength=HIST_DIM).astype(np.float32)
    expected = foreground_hsv_histogram(square.crop((64, 32, 224, 160)))
    np.testing.assert_allclose(counts / np.linalg.norm(counts), expected, atol=1e-6)


def test_loading_the_text_model_draws_no_progress_bar(capfd):
    # A Celery worker logs whatever reaches stderr as a warning: `make run` showed transformers'
    # "Loading weights" bar as two WARNING lines on every worker start.
    from transformers.utils import logging as transformers_logging

    transformers_logging.enable_progress_bar()  # as a fresh process starts
    _minilm_load(torch.device("cpu"))
    assert "Loading weights" not in capfd.readouterr().err
