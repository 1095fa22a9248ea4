import threading
import time

import pytest
import torch

from search.embedders.base import EmbedderLoadError
from search.embedders.clip import ClipEmbedder
from search.embedders.registry import embedder_clear_cache, embedder_get, embedding_models

builds: list[str] = []


class SlowCountingClipEmbedder(ClipEmbedder):
    """A real tiny CLIP whose construction is counted and slow enough for threads to race."""

    def __init__(self, **options):
        builds.append(options["checkpoint"])
        time.sleep(0.2)
        super().__init__(**options)


@pytest.fixture(autouse=True)
def fresh_registry():
    embedder_clear_cache()
    builds.clear()
    yield
    embedder_clear_cache()


@pytest.fixture
def tiny_settings(settings, tiny_clip_folder):
    settings.SNAPSHELF_EMBEDDING_MODELS = {
        "tiny": {"class": "search.embedders.clip.ClipEmbedder", "checkpoint": str(tiny_clip_folder)},
        "counted": {"class": f"{__name__}.SlowCountingClipEmbedder", "checkpoint": str(tiny_clip_folder)},
    }
    settings.SNAPSHELF_EMBEDDING_DEVICE = "cpu"
    settings.SNAPSHELF_TORCH_THREADS = torch.get_num_threads()  # process-wide: keep what it is
    return settings


def test_project_models_are_merged_over_the_presets(tiny_settings):
    assert {"offline", "clip", "tiny", "counted"} <= set(embedding_models())


def test_loads_once_per_name_and_passes_the_runtime_settings(tiny_settings):
    tiny_settings.SNAPSHELF_EMBEDDING_BATCH_SIZE = 3
    embedder = embedder_get("tiny")
    assert isinstance(embedder, ClipEmbedder)
    assert embedder_get("tiny") is embedder
    assert embedder.batch_size == 3
    assert embedder.device == torch.device("cpu")


def test_a_model_entry_overrides_the_runtime_settings(tiny_settings):
    tiny_settings.SNAPSHELF_EMBEDDING_MODELS["tiny"]["batch_size"] = 7
    assert embedder_get("tiny").batch_size == 7


def test_concurrent_first_calls_build_one_embedder(tiny_settings):
    results = []
    threads = [threading.Thread(target=lambda: results.append(embedder_get("counted"))) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1
    assert len(results) == 6 and all(result is results[0] for result in results)


def test_clear_cache_forgets_loaded_models(tiny_settings):
    first = embedder_get("tiny")
    embedder_clear_cache()
    assert embedder_get("tiny") is not first


def test_unknown_name_names_the_setting(tiny_settings):
    with pytest.raises(EmbedderLoadError, match=r"No embedding model named 'nope' in SNAPSHELF_EMBEDDING_MODELS"):
        embedder_get("nope")


def test_bad_class_path_and_bad_option_are_load_errors(tiny_settings):
    tiny_settings.SNAPSHELF_EMBEDDING_MODELS = {
        "missing": {"class": "search.embedders.nowhere.Embedder"},
        "typo": {"class": "search.embedders.clip.ClipEmbedder", "chekpoint": "x"},
    }
    with pytest.raises(EmbedderLoadError, match=r"\['missing'\]\['class'\]"):
        embedder_get("missing")
    with pytest.raises(EmbedderLoadError, match=r"\['typo'\] has options that ClipEmbedder rejects"):
        embedder_get("typo")


@pytest.fixture
def web_process(monkeypatch, settings):
    """A web process (not a worker) on 8 cores, with the automatic thread count."""
    from search.embedders import registry

    monkeypatch.setattr(registry, "_keeps_every_core", False)
    monkeypatch.setattr(registry.os, "sched_getaffinity", lambda pid: set(range(8)))
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    settings.SNAPSHELF_TORCH_THREADS = 0
    return monkeypatch


def test_web_processes_share_the_cores_among_web_concurrency(web_process):
    from search.embedders.registry import torch_threads

    assert torch_threads() == 8  # one web process (runserver, gunicorn without WEB_CONCURRENCY)
    web_process.setenv("WEB_CONCURRENCY", "4")
    assert torch_threads() == 2
    web_process.setenv("WEB_CONCURRENCY", "16")
    assert torch_threads() == 1  # never 0 threads
    web_process.setenv("WEB_CONCURRENCY", "many")
    assert torch_threads() == 8  # gunicorn would refuse it; read as one process


def test_a_set_thread_count_wins(web_process, settings):
    from search.embedders.registry import torch_threads

    web_process.setenv("WEB_CONCURRENCY", "4")
    settings.SNAPSHELF_TORCH_THREADS = 3
    assert torch_threads() == 3


def test_celery_workers_keep_every_core(web_process):
    from search.embedders.registry import torch_threads
    from search.tasks import worker_keeps_every_core  # Celery's worker_init receiver

    web_process.setenv("WEB_CONCURRENCY", "4")
    worker_keeps_every_core()
    assert torch_threads() == 0  # torch's default: one thread per core


def test_the_embedder_is_built_with_the_computed_threads(web_process, tiny_settings):
    before = torch.get_num_threads()
    tiny_settings.SNAPSHELF_TORCH_THREADS = 0
    web_process.setenv("WEB_CONCURRENCY", "8")
    try:
        embedder_get("tiny")
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
