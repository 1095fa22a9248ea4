"""Raw embedding-model throughput: images/s at batch 1, 8 and 32, text-query latency, peak memory.

    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=2147483647:glibc.malloc.trim_threshold=4294967295 \\
        python -m benchmarks.embedding_models

Models: the offline preset (real weights) and a CLIP with openai/clip-vit-base-patch32's architecture
and random weights (same compute as the real one, no download). Each model runs in a fresh process so
that its peak RSS is its own. Images are decoded PIL images (224x224 drawings): this measures the
models and their preprocessing, not decoding or the database (benchmarks/embedding.py does that).

The functions are reusable: ``random_clip_embedder``, ``bench_images``, ``measure_images_per_second``,
``measure_text_latency_ms``, ``peak_rss_mb``. "load s" is loading weights from disk (page cache warm),
after the imports. The random CLIP's tokenizer has no merges (one token per character), so its text
queries are a few times longer in tokens than real CLIP's: its text latency is pessimistic.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from PIL import Image, ImageDraw
from transformers import CLIPConfig, CLIPImageProcessor

from search.embedders.base import Embedder
from search.embedders.clip import ClipEmbedder
from search.embedders.offline import OfflineEmbedder
from tests.search.tiny_clip import clip_checkpoint_save

BATCH_SIZES = (1, 8, 32)
TEXT_QUERY = "red leather handbag"
RECOMMENDED_TUNABLES = "glibc.malloc.mmap_threshold=2147483647:glibc.malloc.trim_threshold=4294967295"


@dataclass
class ModelReport:
    name: str
    model_id: str
    image_dim: int
    load_s: float
    images_per_s: dict[int, float]
    text_p50_ms: float
    peak_rss_mb: float


def random_clip_embedder(folder: Path | str, *, batch_size: int = 16, device: str = "cpu") -> ClipEmbedder:
    """A ClipEmbedder with ViT-B/32's architecture (``CLIPConfig()`` defaults) and random weights,
    saved to ``folder`` (once) and loaded back through AutoModel/AutoProcessor like a real checkpoint."""
    folder = random_clip_save(folder)
    return ClipEmbedder(checkpoint=str(folder), batch_size=batch_size, device=device, local_files_only=True)


def random_clip_save(folder: Path | str) -> Path:
    folder = Path(folder)
    if not (folder / "config.json").exists():
        clip_checkpoint_save(folder, CLIPConfig(), CLIPImageProcessor())
    return folder


def bench_images(count: int, *, size: int = 224, seed: int = 0) -> list[Image.Image]:
    """Product-like drawings: a few coloured shapes on white."""
    rng = random.Random(seed)
    images = []
    for _ in range(count):
        image = Image.new("RGB", (size, size), "white")
        draw = ImageDraw.Draw(image)
        for _ in range(3):
            x, y = rng.randrange(size // 2), rng.randrange(size // 2)
            box = (x, y, x + rng.randrange(20, size // 2), y + rng.randrange(20, size // 2))
            draw.rectangle(box, fill=tuple(rng.randrange(256) for _ in range(3)))
        images.append(image)
    return images


def measure_images_per_second(embedder: Embedder, images: list[Image.Image], batch: int, *, repeats: int = 3) -> float:
    """Best of ``repeats`` passes over ``images`` in batches of ``batch``, after one warm-up batch
    (the first call allocates buffers and picks kernels)."""
    previous, embedder.batch_size = embedder.batch_size, batch
    try:
        embedder.embed_images(images[:batch])
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            embedder.embed_images(images)
            best = min(best, time.perf_counter() - started)
    finally:
        embedder.batch_size = previous
    return len(images) / best


def measure_text_latency_ms(embedder: Embedder, query: str = TEXT_QUERY, *, runs: int = 50) -> float:
    """Median milliseconds to encode one short query (batch 1), after a warm-up."""
    embedder.embed_texts([query])
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        embedder.embed_texts([query])
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def model_build(name: str, workdir: str) -> Embedder:
    if name == "offline":
        return OfflineEmbedder(device="cpu")
    if name == "clip-vit-b32-random":
        return random_clip_embedder(Path(workdir) / "clip-vit-b32-random")
    raise ValueError(f"unknown benchmark model {name!r}")


def model_report(name: str, workdir: str, images_per_batch: int = 4) -> ModelReport:
    """Everything measured for one model; run it in a fresh process for a meaningful peak RSS."""
    if name == "clip-vit-b32-random":
        random_clip_save(Path(workdir) / name)  # writing random weights is not part of loading
    started = time.perf_counter()
    embedder = model_build(name, workdir)
    load_s = time.perf_counter() - started
    rates = {}
    for batch in BATCH_SIZES:
        # At least 32 images, and several batches at the larger sizes.
        images = bench_images(max(32, batch * images_per_batch))
        rates[batch] = measure_images_per_second(embedder, images, batch)
    return ModelReport(
        name=name,
        model_id=embedder.model_id,
        image_dim=embedder.image_dim,
        load_s=load_s,
        images_per_s=rates,
        text_p50_ms=measure_text_latency_ms(embedder),
        peak_rss_mb=peak_rss_mb(),
    )


def report_table(reports: list[ModelReport]) -> str:
    header = "| model | dim | load s | " + " | ".join(f"img/s b{b}" for b in BATCH_SIZES)
    header += " | text query p50 ms | peak RSS MB |"
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for report in reports:
        rates = " | ".join(f"{report.images_per_s[b]:.1f}" for b in BATCH_SIZES)
        lines.append(
            f"| {report.name} | {report.image_dim} | {report.load_s:.1f} | {rates} | "
            f"{report.text_p50_ms:.1f} | {report.peak_rss_mb:.0f} |"
        )
    lines.append("")
    lines.extend(f"- {report.name}: `{report.model_id}`" for report in reports)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["offline", "clip-vit-b32-random"])
    args = parser.parse_args()
    if os.environ.get("GLIBC_TUNABLES") != RECOMMENDED_TUNABLES:
        print(f"warning: GLIBC_TUNABLES is not {RECOMMENDED_TUNABLES}: batched inference runs up to 2-3x slower\n")
    reports = []
    with tempfile.TemporaryDirectory(prefix="snapshelf-bench-") as workdir:
        for name in args.models:
            # A fresh spawned process per model: its own peak RSS and allocator state.
            with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
                reports.append(pool.submit(model_report, name, workdir).result())
    print(f"{os.cpu_count()} CPUs, torch threads: default\n")
    print(report_table(reports))


if __name__ == "__main__":
    main()
