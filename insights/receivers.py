"""Listening to search.events: every answered search and every opened result is kept."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver
from django.http import HttpRequest

from insights.services.recording import result_open_record, search_record
from search.events import ResultOpened, SearchDone, result_opened, search_performed


@receiver(search_performed, dispatch_uid="insights_search_performed")
def search_performed_record(sender: Any, *, search: SearchDone, request: HttpRequest, **kwargs: Any) -> int | None:
    return search_record(search, request)


@receiver(result_opened, dispatch_uid="insights_result_opened")
def result_opened_record(sender: Any, *, opened: ResultOpened, **kwargs: Any) -> None:
    result_open_record(opened)
