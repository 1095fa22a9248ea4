"""Learning a low-rank adapter over frozen image vectors from photos labelled by product (no Django).

Contrastive (InfoNCE): each step takes a batch of distinct products, one photo of each as the
anchor and another photo of the same product as its positive; every other product's positive in
the batch is a negative. Anchors are shop photos (search-only photos, clicked query photos)
whenever the product has one, and positives its catalog photos when it has them, so the adapter
learns above all to bring shoppers' photos to the catalog photos they show. Runs on the CPU in
seconds to minutes: the frozen model's vectors are inputs, no image is decoded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from search.embedders.adapter import LowRankAdapter


@dataclass(frozen=True)
class TrainingPhotos:
    """One row per photo: its frozen vector, its product, and whether a shopper took it."""

    vectors: np.ndarray  # (N, dim), L2-normalised
    products: np.ndarray  # (N,) product ids
    shop: np.ndarray  # (N,) bool: a shop photo or a clicked query photo (else a catalog photo)


@dataclass(frozen=True)
class TuneOptions:
    rank: int = 64
    steps: int = 600
    batch_products: int = 256
    temperature: float = 0.05
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    # Of a shop photo's positives, the share drawn from its product's catalog photos (when it has any).
    catalog_share: float = 0.5
    seed: int = 0


@dataclass(frozen=True)
class TuneReport:
    products: int  # products with a pair (two or more photos)
    photos: int
    shop_photos: int
    steps: int
    loss_first: float
    loss_last: float
    seconds: float


class TuneError(ValueError):
    """Too little to learn from; the message says what to add."""


def adapter_train(photos: TrainingPhotos, options: TuneOptions = TuneOptions()) -> tuple[LowRankAdapter, TuneReport]:
    """The adapter that pulls each product's photos together and pushes other products' apart."""
    started = time.perf_counter()
    groups = _groups(photos)
    if len(groups) < 2:
        raise TuneError(f"{len(groups)} product(s) have two or more photos; tuning needs at least 2 (add shop photos).")
    generator = torch.Generator().manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    vectors = torch.from_numpy(np.ascontiguousarray(photos.vectors, dtype=np.float32))
    dim, rank = vectors.shape[1], min(options.rank, vectors.shape[1])
    down = torch.nn.Parameter(torch.randn(dim, rank, generator=generator) / dim**0.5)
    up = torch.nn.Parameter(torch.zeros(rank, dim))
    optimiser = torch.optim.AdamW([down, up], lr=options.learning_rate, weight_decay=options.weight_decay)
    losses = []
    for _ in range(options.steps):
        anchors, positives = _batch(groups, photos.shop, rng, options.batch_products, options.catalog_share)
        a = _adapt(vectors[anchors], down, up)
        p = _adapt(vectors[positives], down, up)
        logits = a @ p.T / options.temperature
        target = torch.arange(len(anchors))
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    adapter = LowRankAdapter(down=down.detach().numpy().copy(), up=up.detach().numpy().copy())
    report = TuneReport(
        products=len(groups),
        photos=int(sum(len(g) for g in groups)),
        shop_photos=int(photos.shop.sum()),
        steps=options.steps,
        loss_first=losses[0] if losses else 0.0,
        loss_last=float(np.mean(losses[-20:])) if losses else 0.0,
        seconds=time.perf_counter() - started,
    )
    return adapter, report


def _adapt(x: torch.Tensor, down: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    return F.normalize(x + (x @ down) @ up, dim=1)


def _groups(photos: TrainingPhotos) -> list[np.ndarray]:
    """Row indexes per product, for products with two or more photos."""
    order = np.argsort(photos.products, kind="stable")
    keys, starts = np.unique(photos.products[order], return_index=True)
    groups = np.split(order, starts[1:]) if len(keys) else []
    return [group for group in groups if len(group) >= 2]


def _batch(
    groups: list[np.ndarray], shop: np.ndarray, rng: np.random.Generator, size: int, catalog_share: float
) -> tuple[np.ndarray, np.ndarray]:
    """An (anchor, positive) row pair for each of up to ``size`` distinct products."""
    chosen = rng.choice(len(groups), size=min(size, len(groups)), replace=False)
    anchors, positives = [], []
    for index in chosen:
        group = groups[index]
        shop_rows, catalog_rows = group[shop[group]], group[~shop[group]]
        anchor = rng.choice(shop_rows) if len(shop_rows) else rng.choice(group)
        others = group[group != anchor]
        if shop[anchor] and len(catalog_rows) and rng.random() < catalog_share:
            others = catalog_rows
        anchors.append(anchor)
        positives.append(rng.choice(others))
    return np.array(anchors), np.array(positives)
