"""Listening to search: every answered search and every opened result is kept; a built
candidate model is judged by the gate (insights/services/gate.py)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver
from django.http import HttpRequest

from insights.services.clicks import clicked_photos_training
from insights.services.gate import candidate_gate_queue, candidate_gate_run
from insights.services.recording import result_open_record, search_record
from search.events import ResultOpened, SearchDone, result_opened, search_performed
from search.models import EmbeddingModel
from search.services.model_switch import candidate_built
from search.services.tuning import tuning_photos_collect
from search.tuning import TrainingPhotos


@receiver(search_performed, dispatch_uid="insights_search_performed")
def search_performed_record(sender: Any, *, search: SearchDone, request: HttpRequest, **kwargs: Any) -> int | None:
    return search_record(search, request)


@receiver(result_opened, dispatch_uid="insights_result_opened")
def result_opened_record(sender: Any, *, opened: ResultOpened, **kwargs: Any) -> None:
    result_open_record(opened)


@receiver(candidate_built, dispatch_uid="insights_candidate_gate")
def candidate_gate(sender: Any, *, model: EmbeddingModel, inline: bool = False, **kwargs: Any) -> None:
    if inline:
        candidate_gate_run(model.pk)
    else:
        candidate_gate_queue(model.pk)


@receiver(tuning_photos_collect, dispatch_uid="insights_tuning_photos")
def tuning_photos_clicked(sender: Any, *, model: EmbeddingModel, **kwargs: Any) -> TrainingPhotos | None:
    return clicked_photos_training(model)
