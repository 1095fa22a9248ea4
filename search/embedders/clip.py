"""CLIP-family models (CLIP, SigLIP) through transformers: text and images in one space.

The checkpoint is a hub id (downloaded once into the Hugging Face cache) or a local folder
written by ``save_pretrained``. With ``HF_HUB_OFFLINE=1`` only the cache and local folders are used.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from search.embedders.base import (
    MODELS_SETTING,
    OFFLINE_HINT,
    Embedder,
    EmbedderLoadError,
    error_summary,
    transformers_progress_bars_off,
)

DEFAULT_CHECKPOINT = "openai/clip-vit-base-patch32"
# Model types trained on text padded to the full length: shorter padding changes their vectors.
MAX_LENGTH_PADDED_TYPES = ("siglip", "siglip2")


class ClipEmbedder(Embedder):
    shared_space = True

    def __init__(
        self,
        *,
        checkpoint: str = DEFAULT_CHECKPOINT,
        revision: str | None = None,
        local_files_only: bool | None = None,
        cache_dir: str | None = None,
        batch_size: int = 16,
        device: str = "auto",
        threads: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, device=device, threads=threads)
        self.checkpoint = checkpoint
        if local_files_only is None:
            # huggingface_hub reads HF_HUB_OFFLINE once, at import; reading it again here also
            # honours a value set later (by a test, or a settings module imported after transformers).
            local_files_only = _env_truthy("HF_HUB_OFFLINE")
        try:
            self._load(checkpoint, revision, local_files_only, cache_dir)
            self.image_dim = self.text_dim = self._dim_probe()
        except Exception as exc:  # transformers raises OSError, ValueError, KeyError, ImportError...
            raise EmbedderLoadError(load_error_message(checkpoint, exc)) from exc

    def _load(self, checkpoint: str, revision: str | None, local_files_only: bool, cache_dir: str | None) -> None:
        from transformers import AutoModel, AutoProcessor

        options: dict[str, Any] = {"local_files_only": local_files_only, "cache_dir": cache_dir}
        version, pinned = checkpoint_version(checkpoint, revision=revision, **options)
        # Load model and processor from the same commit, even if the repository moves meanwhile.
        options["revision"] = pinned
        transformers_progress_bars_off()
        model = AutoModel.from_pretrained(checkpoint, dtype=torch.float32, **options)
        self._model = model.eval().to(self.device)
        vision = getattr(self._model.config, "vision_config", None)
        self.image_side = int(getattr(vision, "image_size", None) or self.image_side)
        self._processor = AutoProcessor.from_pretrained(checkpoint, **options)
        text_config = self._model.config.text_config
        self._text_max_tokens = int(text_config.max_position_embeddings)
        model_type = str(self._model.config.model_type)
        self._text_padding = "max_length" if model_type in MAX_LENGTH_PADDED_TYPES else "longest"
        name = Path(checkpoint).name if Path(checkpoint).is_dir() else checkpoint
        self.model_id = f"clip/{name}@{version}"

    def _dim_probe(self) -> int:
        # One tiny forward pass: gives the output size for any family, and a model that cannot
        # run fails here, at load, rather than on a shopper's first query.
        with torch.inference_mode():
            return int(self._text_batch_embed(["a"]).shape[1])

    def _image_batch_embed(self, images: list[Image.Image]) -> torch.Tensor:
        pixels = self._processor.image_processor(images, return_tensors="pt")["pixel_values"]
        return features_tensor(self._model.get_image_features(pixel_values=pixels.to(self.device)))

    def _text_batch_embed(self, texts: list[str]) -> torch.Tensor:
        encoded = self._processor.tokenizer(
            texts,
            padding=self._text_padding,
            truncation=True,
            max_length=self._text_max_tokens,
            return_tensors="pt",
        )
        inputs = {key: encoded[key].to(self.device) for key in ("input_ids", "attention_mask") if key in encoded}
        return features_tensor(self._model.get_text_features(**inputs))


def features_tensor(output: Any) -> torch.Tensor:
    """transformers 4.x returns the projected features as a tensor; 5.x returns a ModelOutput whose
    ``pooler_output`` holds them."""
    if isinstance(output, torch.Tensor):
        return output
    pooled = getattr(output, "pooler_output", None)
    if not isinstance(pooled, torch.Tensor):
        raise TypeError(f"expected a tensor or an output with pooler_output, got {type(output).__name__}")
    return pooled


def checkpoint_version(
    checkpoint: str, *, revision: str | None, local_files_only: bool, cache_dir: str | None
) -> tuple[str, str | None]:
    """(version for model_id, revision to load): the hub's commit hash when there is one, else
    ``local:`` and a hash of the folder's files (a local folder has no commit to name it)."""
    from transformers.utils import cached_file
    from transformers.utils.hub import extract_commit_hash

    config_path = cached_file(
        checkpoint, "config.json", revision=revision, local_files_only=local_files_only, cache_dir=cache_dir
    )
    if config_path is None:
        raise OSError(f"{checkpoint} has no config.json")
    commit = extract_commit_hash(config_path, None)
    if commit:
        return commit, commit
    return f"local:{folder_hash(Path(config_path).parent)}", revision


def folder_hash(folder: Path) -> str:
    """A short hash of every file in a checkpoint folder, weights included: two folders with the same
    config but different weights must get different ids. sha256 reads about 1.7 GB/s here, so a
    600 MB CLIP costs a third of a second once per process (and warms the page cache for the load)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not _hidden(p.relative_to(folder))):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        with path.open("rb") as file:
            while chunk := file.read(1 << 20):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def load_error_message(checkpoint: str, exc: BaseException) -> str:
    """One line: what failed, why, and what to do."""
    return (
        f"Could not load the embedding model {checkpoint!r} ({error_summary(exc)}). "
        f"Check {MODELS_SETTING}, or use the offline preset: {OFFLINE_HINT}."
    )


def _hidden(relative: Path) -> bool:
    # .git, .cache (huggingface_hub's download metadata) and the like are not part of the checkpoint.
    return any(part.startswith(".") for part in relative.parts)


def _env_truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in ("1", "ON", "YES", "TRUE")
