"""A tiny CLIP that takes its time over images, so a test can kill a worker mid-batch."""

from __future__ import annotations

import time
from typing import Any

import torch
from PIL import Image

from search.embedders.clip import ClipEmbedder


class SlowClipEmbedder(ClipEmbedder):
    def __init__(self, *, delay_seconds: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delay_seconds = delay_seconds

    def _image_batch_embed(self, images: list[Image.Image]) -> torch.Tensor:
        time.sleep(self.delay_seconds)
        return super()._image_batch_embed(images)
