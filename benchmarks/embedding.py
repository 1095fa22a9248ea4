"""The indexing pipeline against the raw model: does decode + preprocess + model + upsert keep up?

    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=2147483647:glibc.malloc.trim_threshold=4294967295 \\
        .venv/bin/python -m benchmarks.embedding [--images 256] [--clip-images 64]

For each model (the offline preset, and a CLIP with openai/clip-vit-base-patch32's architecture and
random weights) and each batch size (1, 8, 32), at the same torch thread count, it measures side by
side in one process:

- raw: ``embedder.embed_images`` on images decoded beforehand (the model and its preprocessing);
- pipeline: ``embeddings_process_batch`` from pending rows to stored vectors: claim with
  SKIP LOCKED, read the stored JPEG, decode, EXIF/RGB, model, write the vectors to Postgres.

Images are the fashion photos from ../shared/datasets when present (real JPEGs), else the demo
catalog's drawings saved as JPEG. It runs on throwaway embedded Postgres + Redis (test settings)
and prints a table with the pipeline/raw ratio (goal: at least 0.80), peak RSS and the text
query latency.
"""

from __future__ import annotations

import argparse
import io
import os
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from PIL import Image  # noqa: E402

from benchmarks.embedding_models import (  # noqa: E402
    measure_text_latency_ms,
    peak_rss_mb,
    random_clip_save,
)
from catalog.image_intake import image_to_rgb  # noqa: E402

BATCH_SIZES = (1, 8, 32)
FASHION = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "fashion" / "images"


def jpeg_sources(count: int) -> list[bytes]:
    if FASHION.is_dir():
        return [path.read_bytes() for path in sorted(FASHION.glob("*.jpg"))[:count]]
    from catalog.demo import demo_products

    drawings = [Image.open(io.BytesIO(p.image_png)).convert("RGB") for p in demo_products()]
    sources = []
    for index in range(count):
        buffer = io.BytesIO()
        drawings[index % len(drawings)].rotate(index % 7).save(buffer, format="JPEG", quality=90)
        sources.append(buffer.getvalue())
    return sources


def catalog_create(sources: list[bytes]) -> None:
    from catalog.services import product_image_add, product_upsert

    for index, data in enumerate(sources):
        product, _ = product_upsert(sku=f"BENCH-{index:05d}", title=f"Benchmark product {index}")
        product_image_add(product=product, data=data)


def model_configure(name: str, spec: dict, batch: int):  # type: ignore[no-untyped-def, type-arg]
    from search.embedders.registry import embedder_clear_cache, embedder_get
    from search.models import EmbeddingModel

    settings.SNAPSHELF_EMBEDDING_MODELS = {name: {**spec, "batch_size": batch}}
    settings.SNAPSHELF_INDEX_BATCH_SIZE = batch
    embedder_clear_cache()
    embedder = embedder_get(name)
    EmbeddingModel.objects.all().delete()
    model = EmbeddingModel.objects.create(
        name=name, model_id=embedder.model_id, image_dim=embedder.image_dim, text_dim=embedder.text_dim,
        shared_space=embedder.shared_space, status=EmbeddingModel.Status.ACTIVE,
    )  # fmt: skip
    return embedder, model


def raw_images_per_second(embedder, images: list[Image.Image]) -> float:  # type: ignore[no-untyped-def]
    embedder.embed_images(images[: embedder.batch_size])  # warm up
    started = time.perf_counter()
    embedder.embed_images(images)
    return len(images) / (time.perf_counter() - started)


def pipeline_images_per_second(model, count: int) -> float:  # type: ignore[no-untyped-def]
    from catalog.models import ProductImage
    from search.models import ImageEmbedding
    from search.services.index_queue import embeddings_process_batch, image_embeddings_mark_pending

    ImageEmbedding.objects.all().delete()
    image_embeddings_mark_pending(ProductImage.objects.order_by("id")[:count], [model])
    embeddings_process_batch("image", model)  # warm up: one batch, like the raw warm-up
    done = ImageEmbedding.objects.filter(status="ready").count()
    started = time.perf_counter()
    while embeddings_process_batch("image", model).processed:
        pass
    elapsed = time.perf_counter() - started
    ready = ImageEmbedding.objects.filter(status="ready").count()
    if ready != count:
        raise RuntimeError(f"pipeline stored {ready} of {count} vectors")
    return (ready - done) / elapsed


def run(models: dict[str, tuple[dict, int]]) -> list[tuple[str, int, float, float, float]]:  # type: ignore[type-arg]
    rows = []
    for name, (spec, count) in models.items():
        sources = jpeg_sources(count)
        decoded = [image_to_rgb(data) for data in sources]
        for batch in BATCH_SIZES:
            embedder, model = model_configure(name, spec, batch)
            # Interleaved and best-of-two: the machine is shared, and noise should not pick a side.
            raw, pipeline = 0.0, 0.0
            for _ in range(2):
                raw = max(raw, raw_images_per_second(embedder, decoded))
                pipeline = max(pipeline, pipeline_images_per_second(model, count))
            rows.append((name, batch, raw, pipeline, pipeline / raw))
            print(f"{name} batch {batch}: raw {raw:.1f} img/s, pipeline {pipeline:.1f} img/s", flush=True)
        print(f"{name}: text query p50 {measure_text_latency_ms(embedder):.1f} ms", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=256, help="images for the offline preset")
    parser.add_argument("--clip-images", type=int, default=64, help="images for the CLIP (5x slower)")
    parser.add_argument("--skip-clip", action="store_true")
    args = parser.parse_args()
    setup_test_environment()
    from django.db import connection

    test_db = connection.creation.create_test_db(verbosity=0)
    try:
        count = max(args.images, args.clip_images)
        catalog_create(jpeg_sources(count))
        models: dict[str, tuple[dict, int]] = {  # type: ignore[type-arg]
            "offline": ({"class": "search.embedders.offline.OfflineEmbedder"}, args.images)
        }
        if not args.skip_clip:
            folder = random_clip_save(Path(settings.DATA_DIR) / "clip-vit-b32-random")
            models["clip-vit-b32-random"] = (
                {"class": "search.embedders.clip.ClipEmbedder", "checkpoint": str(folder)},
                args.clip_images,
            )
        rows = run(models)
    finally:
        connection.creation.destroy_test_db(test_db, verbosity=0)
    print()
    import torch

    print(f"torch threads: {torch.get_num_threads()}, GLIBC_TUNABLES={os.environ.get('GLIBC_TUNABLES', '')}")
    print("| model | batch | raw img/s | pipeline img/s | pipeline / raw |")
    print("|---|---|---|---|---|")
    for name, batch, raw, pipeline, ratio in rows:
        print(f"| {name} | {batch} | {raw:.1f} | {pipeline:.1f} | {ratio:.2f} |")
    print(f"peak RSS of this process: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
