"""benchmarks/quality/no_match_replay.py: what it records through the service, replayed, decides
as the service did; and its rule variants and temperatures are computed as the service would."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

from benchmarks.quality import no_match_replay
from catalog.models import Product
from search.embedders.offline import KIND_TEMPERATURE, OfflineEmbedder
from search.embedders.registry import embedder_get
from search.models import NoMatchCalibration
from search.services.no_match import kind_score
from search.shopper_photos import shopper_photo
from tests.search.search_fixtures import DEMO_CALIBRATION_SAMPLE, noise, png


@pytest.fixture
def media_root(demo_media_root):
    """The demo index's files (tests/search/conftest.py)."""
    return demo_media_root


pytestmark = pytest.mark.django_db


def test_the_replay_of_the_recorded_flag_decides_as_the_service_did(demo_index, settings):
    settings.SNAPSHELF_SEARCH_NO_MATCH_SAMPLE = DEMO_CALIBRATION_SAMPLE  # as demo_calibrate calibrated it
    products = list(Product.objects.order_by("sku")[::8])
    copies = [
        shopper_photo(Image.open(p.images.get().file).convert("RGB"), seed=500 + i) for i, p in enumerate(products)
    ]
    others = [noise(seed) for seed in range(4)]
    photos = {"copies": [png(image) for image in copies], "noise": [png(image) for image in others]}
    # Every photo beyond the gate, and the kind threshold at the median of these photos' kind
    # scores: the kind check decides some of them (with the demo's own calibration, few or none).
    embedder = embedder_get(demo_index.name)
    scores = [kind_score(demo_index, embedder, vector) for vector in embedder.embed_query_images(copies + others)]
    calibration = NoMatchCalibration.objects.get(model=demo_index)
    NoMatchCalibration.objects.filter(pk=calibration.pk).update(kind_gate=0.0, kind_threshold=float(np.median(scores)))
    recorded = no_match_replay.flag_inputs_record(demo_index, photos, sample_sizes=(DEMO_CALIBRATION_SAMPLE,))
    flagged = np.concatenate([recorded["set0_flagged"], recorded["set1_flagged"]])
    assert len(flagged) == len(products) + 4 and flagged.any() and not flagged.all()
    by_distance = np.concatenate([recorded[f"set{n}_distance"] for n in range(2)]) > calibration.match_threshold
    assert (flagged & ~by_distance).any()  # some flagged by the kind check alone
    no_match_replay.decisions_check(recorded, 2, "demo")  # raises SystemExit where it differs
    # The calibration recomputed from the recording is the stored one, but for what was changed.
    with pytest.raises(SystemExit, match=r"the kind gate differs.*the kind threshold differs"):
        no_match_replay.calibration_check(recorded, "demo")
    original = [calibration.match_threshold, calibration.kind_threshold, calibration.kind_gate]
    no_match_replay.calibration_check({**recorded, "stored": np.array(original)}, "demo")
    # One decision recorded otherwise, and the check says so.
    recorded["set1_flagged"] = ~recorded["set1_flagged"]
    with pytest.raises(SystemExit, match="decided otherwise than the service did"):
        no_match_replay.decisions_check(recorded, 2, "demo")
    # The variants recompute the calibration from what was recorded: without the kind check, the
    # stored match threshold alone flags.
    alone = no_match_replay.replay(recorded, dataclasses.replace(no_match_replay.RULES[0], kind_check=False), 2)
    assert alone == [float((recorded[f"set{n}_distance"] > calibration.match_threshold).mean()) for n in range(2)]
    # A rule whose calibration sample was not recorded gives no figures, not wrong ones.
    half = dataclasses.replace(no_match_replay.RULES[0], sample="half")
    assert all(np.isnan(no_match_replay.replay(recorded, half, 2)))


def test_kind_scores_at_another_temperature_are_the_classifiers_softened_there(demo_index):
    embedder = embedder_get(demo_index.name)
    assert isinstance(embedder, OfflineEmbedder)  # its classifier's logits, read directly below
    vectors = np.random.default_rng(0).normal(size=(3, embedder.image_dim)).astype(np.float32)
    logits = embedder._logits(vectors)
    relevance = np.random.default_rng(1).random(1000).astype(np.float32)
    recorded = {"kinds": np.log(embedder.kind_probabilities(vectors)), "temperature": np.array(KIND_TEMPERATURE)}
    for temperature in (3.0, 5.0, KIND_TEMPERATURE, 16.0):
        expected = np.exp(logits / temperature - (logits / temperature).max(axis=1, keepdims=True))
        expected /= expected.sum(axis=1, keepdims=True)
        scores = no_match_replay.kind_scores(recorded, "kinds", relevance, temperature)
        np.testing.assert_allclose(scores, expected @ relevance, rtol=1e-4)
