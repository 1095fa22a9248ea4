"""The gate a candidate model passes before it replaces the active one (a tuned model).

When the model switch has built a gated candidate it waits (``EmbeddingModel.Status.WAITING``)
and sends ``candidate_built``. The gate runs the self-test on the active model and on the
candidate with the same sample and seed (the same photos) and activates the candidate only when
it finds the right product first more often and within ten at least as often. Otherwise the
candidate waits, with both figures in its verdict and both runs side by side on the admin's
models page, until the merchant activates it or a newer one replaces it.

The photos are the shop's own when it has enough: the search-only shop photos held out of the
tuned model's training (search.services.tuning.tuned_model_held_out), searched against the
catalog photos alone (no search-only photo counted: the rest are often near copies of them).
Only without them (a shop with fewer than SEARCH_TUNE_HOLD_OUT_MIN to hold out) does it search
shopper-like copies of catalog photos, which can disagree with real shop photos
(docs/adr/0012-tuned-models-and-the-gate.md). The verdict says which it used.
"""

from __future__ import annotations

import logging

from django.db import transaction
from kombu.exceptions import OperationalError

from insights.conf import insights_setting
from insights.models import SelfTestRun
from insights.services.self_test import SelfTestError, self_test_create, self_test_run
from search.conf import search_setting
from search.models import EmbeddingModel
from search.services.model_switch import embedding_model_activate, embedding_model_active
from search.services.tuning import tuned_model_held_out

logger = logging.getLogger(__name__)


def candidate_gate_queue(model_id: int) -> None:
    """Ask a worker to judge the candidate once this transaction commits; never raises (a
    candidate whose message is lost keeps waiting, and the merchant can activate it)."""
    from insights.tasks import candidate_gate_execute

    def send() -> None:
        try:
            candidate_gate_execute.apply_async(args=[model_id], retry=False)
        except (OperationalError, OSError) as exc:
            logger.warning("could not queue the gate of model %s (%s)", model_id, exc)

    transaction.on_commit(send)


def candidate_gate_run(model_id: int) -> EmbeddingModel | None:
    """Judge a waiting gated candidate (once: a candidate already judged is left alone)."""
    with transaction.atomic():
        model = EmbeddingModel.objects.select_for_update().filter(pk=model_id).first()
        if model is None or model.status != EmbeddingModel.Status.WAITING or not model.gated:
            return None
        model.gated, model.gate_verdict = False, "The gate's self-tests are running."
        model.save(update_fields=["gated", "gate_verdict"])
    active = embedding_model_active()
    if active is None:
        return _verdict(model, "There is no active model to compare with.", activate=True)
    held_out = tuned_model_held_out(model)
    try:
        sample, seed = insights_setting("INSIGHTS_SELF_TEST_SAMPLE"), 0
        before = self_test_run(self_test_create(model=active, sample=sample, seed=seed, held_out=held_out))
        after = self_test_run(self_test_create(model=model, sample=sample, seed=seed, held_out=held_out))
    except SelfTestError as exc:
        return _verdict(model, f"The self-test could not run ({exc}); it waits for the merchant.", activate=False)
    better = candidate_beats(after, before)
    text = (
        f"{_evidence(after, len(held_out))}: recall@1 {_share(after.recall_at_1)} against "
        f"{_share(before.recall_at_1)} for {active.name}, recall@10 {_share(after.recall_at_10)} against "
        f"{_share(before.recall_at_10)}. "
    )
    text += "Better: activated by the gate." if better else "Not better: it waits for the merchant."
    return _verdict(model, text, activate=better)


def _evidence(run: SelfTestRun, held_out: int) -> str:
    """What the gate's self-tests searched, in the merchant's words."""
    if run.source == SelfTestRun.Source.HELD_OUT:
        return (
            f"Self-test on {run.queries} held-out shop photos (of {held_out} search-only photos kept out of "
            f"training, searched against the catalog photos alone; seed {run.seed})"
        )
    least = int(search_setting("SEARCH_TUNE_HOLD_OUT_MIN"))
    return (
        f"Self-test on {run.queries} shopper-like copies of catalog photos (seed {run.seed}; no held-out shop "
        f"photos: fewer than {least} search-only photos could be kept out of training)"
    )


def candidate_beats(candidate: SelfTestRun, active: SelfTestRun) -> bool:
    """More right products first, and no fewer within ten, on the same photos."""
    if candidate.recall_at_1 is None or active.recall_at_1 is None:
        return False
    if candidate.recall_at_10 is None or active.recall_at_10 is None:
        return False
    return candidate.recall_at_1 > active.recall_at_1 and candidate.recall_at_10 >= active.recall_at_10


def _verdict(model: EmbeddingModel, text: str, *, activate: bool) -> EmbeddingModel:
    EmbeddingModel.objects.filter(pk=model.pk).update(gate_verdict=text)
    logger.info("gate of %s: %s", model.name, text)
    if activate:
        return embedding_model_activate(model.name)
    model.refresh_from_db()
    return model


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"
