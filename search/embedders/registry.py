"""Embedders by name, built from the settings once per process.

A model takes seconds to load and hundreds of MB to hold, so each worker process keeps one instance
per name and every request and task shares it (torch inference is safe to call from threads).
"""

from __future__ import annotations

import threading
from typing import Any

from django.utils.module_loading import import_string

from search.conf import DEFAULTS, search_setting
from search.embedders.base import MODELS_SETTING, OFFLINE_HINT, Embedder, EmbedderLoadError, error_summary

_embedders: dict[str, Embedder] = {}
# One lock for all names: two threads asking for the same model must not load it twice (double the
# memory), and loads are rare enough that serialising different names costs nothing that matters.
_lock = threading.Lock()


def embedder_get(name: str) -> Embedder:
    """The embedder configured as ``name`` in SNAPSHELF_EMBEDDING_MODELS; raises EmbedderLoadError."""
    embedder = _embedders.get(name)
    if embedder is not None:
        return embedder
    with _lock:
        if name not in _embedders:
            _embedders[name] = _embedder_build(name)
        return _embedders[name]


def embedder_clear_cache() -> None:
    """Forget the loaded embedders (tests; settings changed)."""
    with _lock:
        _embedders.clear()


def embedding_models() -> dict[str, dict[str, Any]]:
    """The configured models: the project's SNAPSHELF_EMBEDDING_MODELS merged over the defaults."""
    return {**DEFAULTS["EMBEDDING_MODELS"], **search_setting("EMBEDDING_MODELS")}


def _embedder_build(name: str) -> Embedder:
    models = embedding_models()
    if name not in models:
        raise EmbedderLoadError(
            f"No embedding model named {name!r} in {MODELS_SETTING} (configured: {', '.join(sorted(models))}); "
            f"add it there, or use the offline preset: {OFFLINE_HINT}."
        )
    options = dict(models[name])
    dotted_path = options.pop("class", None)
    setting = f"{MODELS_SETTING}[{name!r}]"
    try:
        embedder_class = import_string(str(dotted_path))
    except ImportError as exc:
        message = f"{setting}['class'] = {dotted_path!r} cannot be imported ({error_summary(exc)})."
        raise EmbedderLoadError(message) from exc
    try:
        return embedder_class(**(_runtime_options() | options))
    except TypeError as exc:  # an option the class does not take: a typo in the settings
        message = f"{setting} has options that {embedder_class.__name__} rejects ({error_summary(exc)})."
        raise EmbedderLoadError(message) from exc


def _runtime_options() -> dict[str, Any]:
    # Shared by every model; a model's own entry in SNAPSHELF_EMBEDDING_MODELS may override them.
    return {
        "batch_size": search_setting("EMBEDDING_BATCH_SIZE"),
        "device": search_setting("EMBEDDING_DEVICE"),
        "threads": search_setting("TORCH_THREADS"),
    }
