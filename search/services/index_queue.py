"""The indexing queue: marking items pending, claiming batches, embedding them, storing vectors.

The database is the queue. Saving an image or product marks a row per wanted model
``pending``; workers claim batches with ``SELECT ... FOR UPDATE SKIP LOCKED``, embed each
batch in one model call and write the vectors back only while they still hold the claim.
A claim older than ``SNAPSHELF_INDEX_CLAIM_TIMEOUT_SECONDS`` (a dead worker) goes back to
pending. The broker only says "there is work"; losing a message loses no work.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.db import connection
from django.db.models import F, Q
from django.utils import timezone

from catalog.image_intake import ImageRejected, product_image_rgb
from catalog.models import CATEGORY_PATH_RELATED, Product, ProductImage
from catalog.thumbnails import image_thumbnails_make, thumbnails_make_missing, thumbnails_stale
from search.conf import search_setting
from search.models import EmbeddingModel, EmbeddingStatus, ImageEmbedding, ProductEmbedding
from search.vector_store import VectorWrite, vectors_write

logger = logging.getLogger(__name__)

RowClass = type[ImageEmbedding] | type[ProductEmbedding]
# A row queued again from scratch: no claim, no attempts, no error, claimable now.
PENDING_AGAIN = {
    "status": EmbeddingStatus.PENDING, "claimed_by": "", "claimed_at": None,
    "attempts": 0, "error": "", "available_at": None,
}  # fmt: skip
KINDS: dict[str, RowClass] = {"image": ImageEmbedding, "product": ProductEmbedding}


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def models_wanted() -> list[EmbeddingModel]:
    return list(EmbeddingModel.objects.filter(status__in=["building", "active"]))


# --- marking work --------------------------------------------------------------------------


def product_text(product: Product) -> str:
    """The text a product is found by: structured fields first, so the model weighs them."""
    parts = [product.title, product.brand, product.category.full_path if product.category else ""]
    parts += [f"{key}: {value}" for key, value in sorted((product.attributes or {}).items()) if value]
    parts.append((product.description or "")[:1000])
    return ". ".join(part.strip() for part in parts if str(part).strip())


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def image_embeddings_mark_pending(images: Iterable[ProductImage], models: list[EmbeddingModel] | None = None) -> int:
    """Ensure a row per (image, wanted model); rows whose bytes changed go back to pending."""
    targets = [(image.pk, image.product_id, image.sha256) for image in images]
    return _mark_pending("image", targets, models)


def product_embeddings_mark_pending(products: Iterable[Product], models: list[EmbeddingModel] | None = None) -> int:
    targets = [(product.pk, None, text_hash(product_text(product))) for product in products]
    return _mark_pending("product", targets, models)


def _mark_pending(
    kind: str, targets: Sequence[tuple[int, int | None, str]], models: list[EmbeddingModel] | None
) -> int:
    models = models_wanted() if models is None else models
    if not targets or not models:
        return 0
    row_class = KINDS[kind]
    owner = "image_id" if kind == "image" else "product_id"
    marked = 0
    for model in models:
        existing = {
            getattr(row, owner): row
            for row in row_class.objects.filter(model=model, **{f"{owner}__in": [t[0] for t in targets]}).only(
                "id", owner, "source_hash", "status"
            )
        }
        new_rows, changed_ids = [], []
        for item_id, product_id, source_hash in targets:
            row = existing.get(item_id)
            if row is None:
                extra = {"product_id": product_id} if kind == "image" else {}
                new_rows.append(row_class(model=model, source_hash=source_hash, **{owner: item_id}, **extra))
            elif row.source_hash != source_hash:
                changed_ids.append((row.pk, source_hash))
        row_class.objects.bulk_create(new_rows, ignore_conflicts=True)  # type: ignore[arg-type]
        for row_id, source_hash in changed_ids:
            row_class.objects.filter(pk=row_id).update(source_hash=source_hash, **PENDING_AGAIN)
        marked += len(new_rows) + len(changed_ids)
    return marked


def embeddings_requeue(*, model: EmbeddingModel, statuses: list[str], kinds: Iterable[str] = KINDS) -> int:
    """Put rows of ``statuses`` back to pending (rebuild --failed / --all)."""
    count = 0
    for kind in kinds:
        count += KINDS[kind].objects.filter(model=model, status__in=statuses).update(**PENDING_AGAIN)
    return count


def embeddings_fill_missing(model: EmbeddingModel) -> int:
    """Create pending rows for every image and product that has none for ``model``."""
    images = ProductImage.objects.exclude(embeddings__model=model).only("id", "product_id", "sha256")
    products = Product.objects.exclude(text_embeddings__model=model).select_related(CATEGORY_PATH_RELATED)
    marked = 0
    for chunk in _chunks(images.iterator(chunk_size=2000), 2000):
        marked += image_embeddings_mark_pending(chunk, [model])
    for chunk in _chunks(products.iterator(chunk_size=2000), 2000):
        marked += product_embeddings_mark_pending(chunk, [model])
    return marked


def _chunks(items: Iterable, size: int) -> Iterable[list]:  # type: ignore[type-arg]
    chunk: list = []  # type: ignore[type-arg]
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- claiming and processing ---------------------------------------------------------------


def embeddings_release_stale_claims() -> int:
    """Claims older than the timeout belong to dead workers: back to pending, to be retried one
    row at a time (embeddings_claim), so that a row that kills its worker takes no batch with it.
    Attempts are counted at claim time, so a row whose worker died ``INDEX_MAX_ATTEMPTS`` times
    fails here instead of being claimed again forever."""
    cutoff = timezone.now() - timedelta(seconds=search_setting("INDEX_CLAIM_TIMEOUT_SECONDS"))
    max_attempts = search_setting("INDEX_MAX_ATTEMPTS")
    released = failed = 0
    for row_class in KINDS.values():
        stale = row_class.objects.filter(status=EmbeddingStatus.PROCESSING, claimed_at__lt=cutoff)
        failed += stale.filter(attempts__gte=max_attempts).update(
            status=EmbeddingStatus.FAILED, claimed_by="", claimed_at=None,
            error=f"gave up after {max_attempts} attempts: the worker stopped while embedding it each time "
            "(killed, out of memory, or a crash while decoding)",
        )  # fmt: skip
        released += stale.update(
            status=EmbeddingStatus.PENDING, claimed_by="", claimed_at=None,
            error="the worker embedding it stopped (its claim timed out); retried on its own",
        )  # fmt: skip
    if released or failed:
        logger.warning("embedding claims held past the timeout: %d released, %d failed", released, failed)
    return released


def embeddings_claim(kind: str, model: EmbeddingModel, *, limit: int, worker: str) -> list[int]:
    """Claim up to ``limit`` claimable pending rows for ``worker``; rows other workers hold are skipped.

    A row tried before (``attempts > 0``: its batch failed, or its worker died) is claimed alone,
    before any new rows, so that one bad row cannot fail or kill the batches of good ones again.
    One statement (one round trip) instead of a transaction of select and update: at batch size 1
    the claim is a large part of the per-image cost.
    """
    table = KINDS[kind]._meta.db_table
    now = timezone.now()
    claimable = (
        f"SELECT id FROM {table} WHERE model_id = %s AND status = %s AND (available_at IS NULL OR available_at <= %s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH retry AS ({claimable} AND attempts > 0 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED), "
            f"fresh AS ({claimable} AND attempts = 0 AND NOT EXISTS (SELECT 1 FROM retry) "
            "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) "
            f"UPDATE {table} SET status = %s, claimed_at = %s, claimed_by = %s, attempts = attempts + 1 "
            "WHERE id IN (SELECT id FROM retry UNION ALL SELECT id FROM fresh) RETURNING id",
            [model.pk, EmbeddingStatus.PENDING, now, model.pk, EmbeddingStatus.PENDING, now, int(limit),
             EmbeddingStatus.PROCESSING, now, worker],
        )  # fmt: skip
        return sorted(row[0] for row in cursor.fetchall())


@dataclass
class BatchResult:
    ready: int = 0
    failed: int = 0
    retried: int = 0
    discarded: int = 0
    thumbnails: int = 0  # images whose thumbnails the sweep made (not embedding work)

    def add(self, other: BatchResult) -> None:
        self.ready += other.ready
        self.failed += other.failed
        self.retried += other.retried
        self.discarded += other.discarded
        self.thumbnails += other.thumbnails

    @property
    def processed(self) -> int:
        return self.ready + self.failed + self.retried + self.discarded


def embeddings_process_batch(kind: str, model: EmbeddingModel, *, worker: str | None = None) -> BatchResult:
    """Claim one batch of ``kind`` rows for ``model``, embed it in one model call, store it."""
    from search.embedders.registry import embedder_get

    worker = worker or worker_name()
    batch_size = search_setting("INDEX_BATCH_SIZE" if kind == "image" else "INDEX_TEXT_BATCH_SIZE")
    ids = embeddings_claim(kind, model, limit=batch_size, worker=worker)
    if not ids:
        return BatchResult()
    rows = list(KINDS[kind].objects.filter(id__in=ids, claimed_by=worker).select_related(*_related(kind)))
    result = BatchResult()
    rows = _reuse_known_vectors(kind, model, rows, result, worker)
    if model.is_tuned and rows:
        rows = _derive_from_base(kind, model, rows, result, worker)
    inputs, ok_rows = _load_inputs(kind, rows, result, worker)
    if not ok_rows:
        return result
    try:
        embedder = embedder_get(model.name)
        _check_model(embedder.model_id, model)
        vectors = embedder.embed_images(inputs) if kind == "image" else embedder.embed_texts(inputs)
    except Exception as exc:
        logger.exception("embedding a batch of %d %s rows failed", len(ok_rows), kind)
        _rows_retry_or_fail([row.pk for row in ok_rows], kind, str(exc) or exc.__class__.__name__, worker, result)
        return result
    writes = [VectorWrite(row.pk, vector, row.source_hash) for row, vector in zip(ok_rows, vectors, strict=True)]
    written = vectors_write(kind, writes, worker=worker)
    result.ready += written
    result.discarded += len(writes) - written
    return result


def _reuse_known_vectors(kind: str, model: EmbeddingModel, rows: list, result: BatchResult, worker: str) -> list:  # type: ignore[type-arg]
    """Rows whose input (same bytes, same text) already has a vector from this model copy it
    instead of running the model again; returns the rows that still need the model."""
    known = dict(
        KINDS[kind]
        .objects.filter(model=model, status=EmbeddingStatus.READY, source_hash__in={row.source_hash for row in rows})
        .values_list("source_hash", "embedding")
    )
    if not known:
        return rows
    writes = [VectorWrite(row.pk, np.asarray(known[row.source_hash]), row.source_hash) for row in rows
              if row.source_hash in known]  # fmt: skip
    result.ready += vectors_write(kind, writes, worker=worker)
    return [row for row in rows if row.source_hash not in known]


def _derive_from_base(kind: str, model: EmbeddingModel, rows: list, result: BatchResult, worker: str) -> list:  # type: ignore[type-arg]
    """A tuned model's vectors from its base model's for the same input (same image bytes, same
    text): the adapter for images, a copy for texts. Building a tuned index then needs no forward
    pass for what the base model has embedded. Returns the rows that still need the model."""
    from search.embedders.adapter import AdaptedEmbedder
    from search.embedders.base import EmbedderLoadError
    from search.embedders.registry import embedder_get

    try:
        embedder = embedder_get(model.name)
    except EmbedderLoadError:
        return rows  # the model path below fails the rows with the reason
    if not isinstance(embedder, AdaptedEmbedder) or embedder.model_id != model.model_id:
        return rows
    base = EmbeddingModel.objects.filter(model_id=embedder.base.model_id).first()
    if base is None:
        return rows
    owner = "image_id" if kind == "image" else "product_id"
    known = {
        (owner_id, source_hash): vector
        for owner_id, source_hash, vector in KINDS[kind]
        .objects.filter(model=base, status=EmbeddingStatus.READY, **{f"{owner}__in": [getattr(r, owner) for r in rows]})
        .values_list(owner, "source_hash", "embedding")
    }
    derived = [row for row in rows if (getattr(row, owner), row.source_hash) in known]
    if not derived:
        return rows
    vectors = np.stack([np.asarray(known[(getattr(row, owner), row.source_hash)], dtype=np.float32) for row in derived])
    if kind == "image":
        vectors = embedder.adapt(vectors)
    writes = [VectorWrite(row.pk, vector, row.source_hash) for row, vector in zip(derived, vectors, strict=True)]
    result.ready += vectors_write(kind, writes, worker=worker)
    return [row for row in rows if (getattr(row, owner), row.source_hash) not in known]


def _related(kind: str) -> list[str]:
    # Three category levels in one query: product_text() walks the category path.
    return ["image"] if kind == "image" else [f"product__{CATEGORY_PATH_RELATED}"]


def _check_model(loaded_model_id: str, model: EmbeddingModel) -> None:
    if loaded_model_id != model.model_id:
        raise RuntimeError(
            f"the weights for {model.name!r} changed ({loaded_model_id} is loaded, the index has {model.model_id}); "
            "activate the model again to build vectors for the new weights"
        )


def _load_inputs(kind: str, rows: list, result: BatchResult, worker: str) -> tuple[list, list]:  # type: ignore[type-arg]
    inputs: list = []  # type: ignore[type-arg]
    ok_rows = []
    for row in rows:
        if kind == "product":
            # An edit after the claim marks the row again, which voids this worker's claim.
            inputs.append(product_text(row.product))
            ok_rows.append(row)
            continue
        try:
            pixels = product_image_rgb(row.image)
            if thumbnails_stale(row.image):  # made here, from the pixels decoded for the model
                image_thumbnails_make(row.image, pixels)
            inputs.append(pixels)
            ok_rows.append(row)
        except (ImageRejected, OSError) as exc:
            # The bytes will not decode (or are gone): fail now, with the reason, and move on.
            _row_fail(kind, row.pk, str(exc), worker)
            result.failed += 1
    return inputs, ok_rows


def _row_fail(kind: str, row_id: int, error: str, worker: str) -> None:
    KINDS[kind].objects.filter(pk=row_id, claimed_by=worker).update(
        status=EmbeddingStatus.FAILED, error=error[:2000], claimed_by="", claimed_at=None
    )


def _rows_retry_or_fail(row_ids: list[int], kind: str, error: str, worker: str, result: BatchResult) -> None:
    max_attempts = search_setting("INDEX_MAX_ATTEMPTS")
    backoff = search_setting("INDEX_RETRY_BACKOFF_SECONDS")
    for row in KINDS[kind].objects.filter(pk__in=row_ids, claimed_by=worker).only("id", "attempts"):
        if row.attempts >= max_attempts:
            _row_fail(kind, row.pk, f"gave up after {row.attempts} attempts: {error}", worker)
            result.failed += 1
            continue
        delay = backoff * 2 ** (row.attempts - 1)
        KINDS[kind].objects.filter(pk=row.pk, claimed_by=worker).update(
            status=EmbeddingStatus.PENDING, error=error[:2000], claimed_by="", claimed_at=None,
            available_at=timezone.now() + timedelta(seconds=delay),
        )  # fmt: skip
        result.retried += 1


def embeddings_pending_exist() -> bool:
    """Embedding work for a wanted model, or images without thumbnails for their bytes."""
    wanted = Q(model__status__in=["building", "active"]) & Q(status=EmbeddingStatus.PENDING)
    if any(row_class.objects.filter(wanted).exists() for row_class in KINDS.values()):
        return True
    return ProductImage.objects.exclude(thumbnails_of=F("sha256")).exists()


def embeddings_claimable_exist() -> bool:
    """Rows of a wanted model that a worker could claim now (pending, not waiting for a retry)."""
    claimable = Q(model__status__in=["building", "active"], status=EmbeddingStatus.PENDING) & (
        Q(available_at__isnull=True) | Q(available_at__lte=timezone.now())
    )
    return any(row_class.objects.filter(claimable).exists() for row_class in KINDS.values())


def embeddings_process_available(*, time_budget: float | None = None, worker: str | None = None) -> BatchResult:
    """Process batches for every wanted model until nothing is claimable or the time budget ends."""
    import time

    from search.services.model_switch import embedding_model_activation_finish_if_built

    deadline = time.monotonic() + (time_budget or search_setting("INDEX_TASK_TIME_BUDGET_SECONDS"))
    total = BatchResult()
    for model in sorted(models_wanted(), key=lambda m: m.status != "active"):
        for kind in KINDS:
            while time.monotonic() < deadline:
                batch = embeddings_process_batch(kind, model, worker=worker)
                if not batch.processed:
                    break
                total.add(batch)
        embedding_model_activation_finish_if_built()
    # Then thumbnails the batches did not make: images whose vectors were copied from identical
    # bytes, images stored before thumbnails were kept (catalog/thumbnails.py).
    while time.monotonic() < deadline:
        made = thumbnails_make_missing(limit=search_setting("INDEX_BATCH_SIZE"))
        if not made:
            break
        total.thumbnails += made
    return total


def products_reembed(product_ids: list[int]) -> int:
    """Queue the images and text of these products again, for every wanted model."""
    models = models_wanted()
    count = 0
    for kind, row_class in KINDS.items():
        owner = "image__product_id__in" if kind == "image" else "product_id__in"
        count += row_class.objects.filter(model__in=models, **{owner: product_ids}).update(**PENDING_AGAIN)
    images = ProductImage.objects.filter(product_id__in=product_ids).only("id", "product_id", "sha256")
    products = Product.objects.filter(pk__in=product_ids).select_related(CATEGORY_PATH_RELATED)
    return count + image_embeddings_mark_pending(images, models) + product_embeddings_mark_pending(products, models)


def embeddings_queue_again(*, statuses: list[str]) -> int:
    """For every wanted model: queue items that have no row yet, and rows of ``statuses`` again
    (``search_index rebuild``, the admin's "Embed missing and failed")."""
    count = 0
    for model in models_wanted():
        count += embeddings_fill_missing(model)
        if statuses:
            count += embeddings_requeue(model=model, statuses=statuses)
    return count
