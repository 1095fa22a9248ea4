"""A tiny CLIP whose process dies (as on an out-of-memory kill or a crash in a decoder) when a
batch holds a magenta image, so a test can see what becomes of a row that kills its worker."""

from __future__ import annotations

import os
import signal

import torch
from PIL import Image

from search.embedders.clip import ClipEmbedder

POISON = (255, 0, 255)


class CrashingClipEmbedder(ClipEmbedder):
    def _image_batch_embed(self, images: list[Image.Image]) -> torch.Tensor:
        if any(image.getpixel((0, 0)) == POISON for image in images):
            os.kill(os.getpid(), signal.SIGKILL)
        return super()._image_batch_embed(images)
