import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from transformers.modeling_outputs import BaseModelOutputWithPooling

from search.embedders.base import EmbedderLoadError
from search.embedders.clip import ClipEmbedder, features_tensor
from tests.search.embedders.drawings import BLUE, RED, mug, star
from tests.search.tiny_clip import TINY_PROJECTION_DIM, tiny_clip_save

ROOT = Path(__file__).resolve().parents[3]


def _images(count: int) -> list[Image.Image]:
    drawings = [mug(RED), mug(BLUE), star(RED), star(BLUE), Image.new("RGB", (40, 90), (10, 200, 10))]
    return [drawings[i % len(drawings)] for i in range(count)]


def test_shapes_dtype_and_unit_norms(tiny_clip):
    assert tiny_clip.shared_space is True
    assert tiny_clip.image_dim == tiny_clip.text_dim == tiny_clip.dim == TINY_PROJECTION_DIM
    images = tiny_clip.embed_images(_images(3))
    texts = tiny_clip.embed_texts(["red shoe", "kitchen table"])
    assert images.shape == (3, TINY_PROJECTION_DIM) and texts.shape == (2, TINY_PROJECTION_DIM)
    assert images.dtype == texts.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(np.vstack([images, texts]), axis=1), 1.0, atol=1e-5)


def test_empty_input_gives_zero_rows(tiny_clip):
    assert tiny_clip.embed_images([]).shape == (0, TINY_PROJECTION_DIM)
    assert tiny_clip.embed_texts([]).shape == (0, TINY_PROJECTION_DIM)


def test_deterministic(tiny_clip):
    images = _images(2)
    np.testing.assert_array_equal(tiny_clip.embed_images(images), tiny_clip.embed_images(images))
    np.testing.assert_array_equal(tiny_clip.embed_texts(["red shoe"]), tiny_clip.embed_texts(["red shoe"]))


def test_more_inputs_than_batch_size_match_one_by_one(tiny_clip):
    assert tiny_clip.batch_size == 4
    images = _images(10)
    texts = ["red shoe", "a", "crimson sneaker with white laces", "mug", "blue", "kitchen table", "x" * 300]
    batched_images, batched_texts = tiny_clip.embed_images(images), tiny_clip.embed_texts(texts)
    assert batched_images.shape == (10, TINY_PROJECTION_DIM)
    np.testing.assert_allclose(batched_images, np.vstack([tiny_clip.embed_images([i]) for i in images]), atol=1e-5)
    np.testing.assert_allclose(batched_texts, np.vstack([tiny_clip.embed_texts([t]) for t in texts]), atol=1e-5)


def test_images_with_alpha_are_flattened_on_white(tiny_clip):
    transparent = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    transparent.paste((200, 30, 30, 255), (16, 16, 48, 48))
    on_white = Image.new("RGB", (64, 64), "white")
    on_white.paste((200, 30, 30), (16, 16, 48, 48))
    np.testing.assert_allclose(tiny_clip.embed_images([transparent]), tiny_clip.embed_images([on_white]), atol=1e-6)


def test_model_id_names_the_folder_and_its_contents(tiny_clip, tiny_clip_folder, tmp_path):
    assert tiny_clip.model_id.startswith(f"clip/{tiny_clip_folder.name}@local:")
    again = ClipEmbedder(checkpoint=str(tiny_clip_folder), device="cpu")
    assert again.model_id == tiny_clip.model_id
    other_weights = ClipEmbedder(checkpoint=str(tiny_clip_save(tiny_clip_folder.parent / "seed1", seed=1)))
    assert other_weights.model_id.split("@")[1] != tiny_clip.model_id.split("@")[1]


def test_hub_checkpoint_model_id_carries_the_commit_hash(tiny_clip_folder, tmp_path):
    """A checkpoint found in the Hugging Face cache (as after a download) is named by its commit."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repository = tmp_path / "models--snapshelf--tiny-clip"
    shutil.copytree(tiny_clip_folder, repository / "snapshots" / commit)
    (repository / "refs").mkdir()
    (repository / "refs" / "main").write_text(commit)
    embedder = ClipEmbedder(checkpoint="snapshelf/tiny-clip", cache_dir=str(tmp_path), local_files_only=True)
    assert embedder.model_id == f"clip/snapshelf/tiny-clip@{commit}"


def test_unknown_checkpoint_fails_with_one_line_that_says_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EmbedderLoadError) as raised:
        ClipEmbedder(checkpoint="snapshelf-tests/no-such-model", device="cpu")
    message = str(raised.value)
    assert "\n" not in message
    assert "'snapshelf-tests/no-such-model'" in message
    assert "SNAPSHELF_EMBEDDING_MODELS" in message
    assert "SNAPSHELF_SEARCH_MODEL=offline" in message
    assert "python manage.py search_model activate offline" in message


def test_folder_that_is_not_a_checkpoint_fails_with_load_error(tmp_path):
    with pytest.raises(EmbedderLoadError, match="SNAPSHELF_EMBEDDING_MODELS"):
        ClipEmbedder(checkpoint=str(tmp_path), local_files_only=True)


def test_features_tensor_accepts_both_transformers_return_types():
    tensor = torch.ones(2, 3)
    assert features_tensor(tensor) is tensor
    assert features_tensor(BaseModelOutputWithPooling(pooler_output=tensor)) is tensor
    with pytest.raises(TypeError):
        features_tensor((tensor,))


def test_embedders_run_without_django_settings(tiny_clip_folder):
    """The wrappers take plain arguments: no configured Django, no registry import."""
    script = (
        "import sys\n"
        "from django.conf import settings\n"
        "from search.embedders.clip import ClipEmbedder\n"
        f"vectors = ClipEmbedder(checkpoint={str(tiny_clip_folder)!r}, device='cpu').embed_texts(['a'])\n"
        "assert vectors.shape == (1, 16), vectors.shape\n"
        "assert not settings.configured\n"
        "assert 'search.embedders.registry' not in sys.modules\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
