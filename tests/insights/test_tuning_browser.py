"""The models page in Debian's chromium: a tuned candidate that did not beat the active model
waits beside it, both self-tests side by side with the gate's verdict, and the merchant
activates it with one button."""

from __future__ import annotations

import pytest

from search.models import EmbeddingModel
from search.services.model_switch import candidate_gate_request, embedding_model_activate, embedding_model_active
from tests.insights.test_browser import admin_signed_in
from tests.search.test_browser import browser, shot  # noqa: F401 - the chromium fixture
from tests.search.test_tuning import PRODUCTS, adapter_store, candidate_build, collapsing, shop_catalog

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_waiting_candidate_is_shown_beside_the_active_model_and_activated(
    live_server,
    transactional_db,
    browser,  # noqa: F811
    tiny_models,
    settings,
    django_user_model,
):
    settings.SNAPSHELF_INSIGHTS_SELF_TEST_SAMPLE = PRODUCTS
    base = embedding_model_activate("tiny")
    shop_catalog()
    waiting = candidate_build(adapter_store(base, collapsing(base.image_dim)))
    candidate_gate_request(waiting, inline=True)
    context, page = admin_signed_in(browser, live_server.url, django_user_model)
    page.goto(live_server.url + "/admin/search/embeddingmodel/")
    compare = page.locator("#self-test-compare")
    assert compare.locator("tr.model-active").count() == 1 and compare.locator("tr.model-waiting").count() == 1
    waiting_row = compare.locator("tr.model-waiting").inner_text()
    assert waiting.name in waiting_row and "Built, waiting" in waiting_row and "%" in waiting_row
    assert "%" in compare.locator("tr.model-active").inner_text()  # both self-tests, side by side
    assert "Not better: it waits for the merchant." in compare.locator("tr.gate-verdict").inner_text()
    shot(page, "insights-models-waiting")
    page.click(f"#activate-{waiting.pk}")
    page.wait_for_load_state()
    assert f"Activating {waiting.name}." in page.locator(".messagelist").inner_text()
    assert compare.locator("tr.model-waiting").count() == 0
    assert embedding_model_active().pk == waiting.pk
    assert EmbeddingModel.objects.get(pk=base.pk).status == EmbeddingModel.Status.RETIRED
    context.close()
