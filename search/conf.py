"""The search app's settings, each overridable as ``SNAPSHELF_<NAME>`` in the project settings."""

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # The model the index starts with on a new install (later switches: `manage.py search_model activate`).
    "SEARCH_MODEL": "offline",
    # Indexing pipeline.
    "INDEX_BATCH_SIZE": 16,
    # Product texts per claim: a text costs a fraction of an image, so claims are larger.
    "INDEX_TEXT_BATCH_SIZE": 64,
    "INDEX_CLAIM_TIMEOUT_SECONDS": 600,
    "INDEX_MAX_ATTEMPTS": 5,
    "INDEX_RETRY_BACKOFF_SECONDS": 30,
    "INDEX_TASK_TIME_BUDGET_SECONDS": 120,
    "INDEX_SWEEP_INTERVAL_SECONDS": 60,
    # HNSW index build.
    "HNSW_M": 16,
    "HNSW_EF_CONSTRUCTION": 128,
    "HALFVEC_INDEX": False,
    "INDEX_BUILD_MEMORY_MB": 1024,
    # Embedding models by name: {"class": dotted path of an Embedder, **constructor kwargs}.
    # Names set in the project are merged over these, so overriding "clip" keeps "offline".
    "EMBEDDING_MODELS": {
        "offline": {"class": "search.embedders.offline.OfflineEmbedder"},
        "clip": {"class": "search.embedders.clip.ClipEmbedder", "checkpoint": "openai/clip-vit-base-patch32"},
    },
    # Images or texts per forward pass.
    "EMBEDDING_BATCH_SIZE": 16,
    # torch intra-op threads; 0 leaves torch's default (one per core).
    "TORCH_THREADS": 0,
    # "auto" (CUDA when available, else CPU), "cpu" or "cuda".
    "EMBEDDING_DEVICE": "auto",
}


def search_setting(name: str) -> Any:
    return getattr(settings, f"SNAPSHELF_{name}", DEFAULTS[name])
