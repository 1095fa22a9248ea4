"""Embedders by name, built from the settings once per process.

A model takes seconds to load and hundreds of MB to hold, so each worker process keeps one instance
per name and every request and task shares it (torch inference is safe to call from threads).
"""

from __future__ import annotations

import os
import threading
from typing import Any

from django.utils.module_loading import import_string

from search.conf import DEFAULTS, search_setting
from search.embedders.base import MODELS_SETTING, OFFLINE_HINT, Embedder, EmbedderLoadError, error_summary

_embedders: dict[str, Embedder] = {}
# One lock for all names: two threads asking for the same model must not load it twice (double the
# memory), and loads are rare enough that serialising different names costs nothing that matters.
# Re-entrant: a tuned model loads its base model through embedder_get while holding it.
_lock = threading.RLock()
# Set in Celery worker processes (search.tasks, at worker_init): they keep every core.
_keeps_every_core = False


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


def embedder_spaces(name: str) -> tuple[str, str]:
    """The no-exact-match spaces (``match_space``, ``kind_space``) of the model configured as
    ``name``, read from its class without loading weights: a tuned model judges in its base
    model's (AdaptedEmbedder); raises EmbedderLoadError."""
    from search.models import TUNED_SEPARATOR

    if TUNED_SEPARATOR in name:
        return embedder_spaces(name.rpartition(TUNED_SEPARATOR)[0])
    embedder_class = _embedder_options(name)[0]
    return embedder_class.match_space, embedder_class.kind_space


def _embedder_options(name: str) -> tuple[type[Embedder], dict[str, Any]]:
    models = embedding_models()
    if name not in models:
        raise EmbedderLoadError(
            f"No embedding model named {name!r} in {MODELS_SETTING} (configured: {', '.join(sorted(models))}); "
            f"add it there, or use the offline preset: {OFFLINE_HINT}."
        )
    options = dict(models[name])
    dotted_path = options.pop("class", None)
    try:
        embedder_class = import_string(str(dotted_path))
    except ImportError as exc:
        message = f"{MODELS_SETTING}[{name!r}]['class'] = {dotted_path!r} cannot be imported ({error_summary(exc)})."
        raise EmbedderLoadError(message) from exc
    return embedder_class, options


def _embedder_build(name: str) -> Embedder:
    from search.models import TUNED_SEPARATOR

    if TUNED_SEPARATOR in name:
        # A tuned model: its base model plus adapter weights kept in the database.
        from search.services.tuning import tuned_embedder_build

        return tuned_embedder_build(name)
    embedder_class, options = _embedder_options(name)
    try:
        return embedder_class(**(_runtime_options() | options))
    except TypeError as exc:  # an option the class does not take: a typo in the settings
        message = (
            f"{MODELS_SETTING}[{name!r}] has options that {embedder_class.__name__} rejects ({error_summary(exc)})."
        )
        raise EmbedderLoadError(message) from exc


def _runtime_options() -> dict[str, Any]:
    # Shared by every model; a model's own entry in SNAPSHELF_EMBEDDING_MODELS may override them.
    return {
        "batch_size": search_setting("EMBEDDING_BATCH_SIZE"),
        "device": search_setting("EMBEDDING_DEVICE"),
        "threads": torch_threads(),
    }


def torch_threads() -> int:
    """torch threads for the embedders of this process: SNAPSHELF_TORCH_THREADS when above 0.
    Otherwise 0 (torch's default, one per core) in a Celery worker process, and in a web process
    its share of the cores, ``cores // WEB_CONCURRENCY`` (at least 1): gunicorn starts
    WEB_CONCURRENCY processes, and each would otherwise run as many threads as there are cores,
    so that four processes on two cores fight over them (docs/performance.md)."""
    configured = int(search_setting("TORCH_THREADS"))
    if configured > 0:
        return configured
    if _keeps_every_core:
        return 0
    return max(1, cpu_cores() // web_processes())


def cpu_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers narrow)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def web_processes() -> int:
    """WEB_CONCURRENCY, read as gunicorn reads it for its default --workers (1 when unset)."""
    try:
        return max(1, int(os.environ.get("WEB_CONCURRENCY") or 1))
    except ValueError:
        return 1


def process_keeps_every_core() -> None:
    """Mark this process (and the processes it forks) as a worker: automatic threads are torch's
    default, every core. Called at Celery's worker_init, before the pool forks."""
    global _keeps_every_core
    _keeps_every_core = True
