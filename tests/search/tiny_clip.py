"""CLIP checkpoints built offline: a tokenizer, an image processor and random weights, written with
``save_pretrained`` so that the real ``AutoModel`` / ``AutoProcessor`` loading code reads them.

    from tests.search.tiny_clip import tiny_clip_save
    folder = tiny_clip_save(tmp_path / "tiny-clip")          # seconds; 16-d vectors
    embedder = ClipEmbedder(checkpoint=str(folder), device="cpu")

``clip_checkpoint_save`` builds any CLIPConfig (benchmarks/embedding_models.py uses ViT-B/32's).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTextConfig, CLIPTokenizer

START_TOKEN = "<|startoftext|>"
END_TOKEN = "<|endoftext|>"
TINY_PROJECTION_DIM = 16
TINY_IMAGE_SIZE = 32


def tiny_clip_save(folder: Path | str, *, seed: int = 0) -> Path:
    """A 2-layer CLIP with 16-d vectors and 32x32 images; different seeds give different weights."""
    config = CLIPConfig(
        text_config={"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4},
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "image_size": TINY_IMAGE_SIZE,
            "patch_size": 8,
        },
        projection_dim=TINY_PROJECTION_DIM,
    )
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": TINY_IMAGE_SIZE}, crop_size={"height": TINY_IMAGE_SIZE, "width": TINY_IMAGE_SIZE}
    )
    return clip_checkpoint_save(folder, config, image_processor, seed=seed)


def clip_checkpoint_save(
    folder: Path | str, config: CLIPConfig, image_processor: CLIPImageProcessor, *, seed: int = 0
) -> Path:
    """Random weights for ``config`` plus an offline tokenizer, saved as a loadable checkpoint.

    The config's text vocabulary is kept when it is larger than the tokenizer's (ViT-B/32's 49,408
    rows cost the same time whichever ids are looked up); the special tokens are pointed at ours.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = byte_level_tokenizer_save(folder)
    text = config.text_config
    if not isinstance(text, CLIPTextConfig):
        raise TypeError(f"expected a CLIPConfig with a CLIPTextConfig, got {type(text).__name__}")
    text.vocab_size = max(text.vocab_size, len(tokenizer))
    text.max_position_embeddings = min(text.max_position_embeddings, 77)
    tokenizer.model_max_length = text.max_position_embeddings
    vocab = tokenizer.get_vocab()
    text.bos_token_id = vocab[START_TOKEN]
    text.eos_token_id = text.pad_token_id = vocab[END_TOKEN]
    torch.manual_seed(seed)
    CLIPModel(config).save_pretrained(folder)
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def byte_level_tokenizer_save(folder: Path) -> CLIPTokenizer:
    """A CLIP tokenizer with no merges: one token per byte (and per word-final byte), plus the two
    special tokens. Real CLIP splits words into fewer tokens; the model code is the same."""
    symbols = list(_bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for token in [*symbols, *(symbol + "</w>" for symbol in symbols), START_TOKEN, END_TOKEN]:
        vocab[token] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    return CLIPTokenizer(vocab_file=str(folder / "vocab.json"), merges_file=str(folder / "merges.txt"))


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible map from bytes to printable characters (the tokenizer's alphabet)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, codes), strict=True))
