"""A tiny CLIP that records every image it embeds (a hash of its pixels and the worker's pid) in a
file, so a test can count how often each image was embedded across worker processes."""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

import torch
from PIL import Image

from search.embedders.clip import ClipEmbedder


class RecordingClipEmbedder(ClipEmbedder):
    def __init__(self, *, record_path: str, delay_seconds: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.record_path = record_path
        self.delay_seconds = delay_seconds

    def _image_batch_embed(self, images: list[Image.Image]) -> torch.Tensor:
        time.sleep(self.delay_seconds)  # a batch that takes a while, as a real model's does
        lines = "".join(f"{os.getpid()} {hashlib.sha256(image.tobytes()).hexdigest()}\n" for image in images)
        with open(self.record_path, "a") as record:  # one write per batch: lines of two workers never mix
            record.write(lines)
        return super()._image_batch_embed(images)
