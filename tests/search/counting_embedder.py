"""A tiny CLIP that records every text it embeds, so a test can see which searches ran the model."""

from __future__ import annotations

from typing import ClassVar

import torch

from search.embedders.clip import ClipEmbedder


class CountingClipEmbedder(ClipEmbedder):
    texts: ClassVar[list[str]] = []

    def _text_batch_embed(self, texts: list[str]) -> torch.Tensor:
        CountingClipEmbedder.texts += texts
        return super()._text_batch_embed(texts)
