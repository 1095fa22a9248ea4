"""Thin Celery tasks over insights.services; each is safe to run twice."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def retention_enforce() -> None:
    """Periodic (beat): delete searches and opened results past SNAPSHELF_INSIGHTS_RETENTION_DAYS."""
    from insights.services.recording import retention_enforce as enforce

    searches, opens = enforce()
    logger.info("search statistics: deleted %d searches and %d opened results past retention", searches, opens)


@shared_task(ignore_result=True)
def drift_update() -> None:
    """Periodic (beat): today's and yesterday's drift figures for the models searched."""
    from insights.services.drift import drift_days_update

    drift_days_update()


@shared_task(ignore_result=True, acks_late=True)
def self_test_execute(run_id: int) -> None:
    """Run a queued self-test (a run already started or finished is left alone)."""
    from insights.services.self_test import self_test_execute as execute

    execute(run_id)


@shared_task(ignore_result=True, acks_late=True)
def candidate_gate_execute(model_id: int) -> None:
    """Judge a built candidate model against the active one (a candidate already judged is left alone)."""
    from insights.services.gate import candidate_gate_run

    candidate_gate_run(model_id)
