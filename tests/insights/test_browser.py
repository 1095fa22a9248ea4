"""The search dashboard and the self-test pages in Debian's chromium (Playwright), with a month of
made-up searches. Screenshots go to test-artifacts/ (the README's come from here)."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.utils import timezone

from catalog.services import product_upsert
from insights.models import DriftDay, SelfTestRun
from search.models import EmbeddingModel
from tests.insights.factories import at, result_open, search_event
from tests.search.test_browser import browser, shot  # noqa: F401 - the chromium fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow]
WORDS = ["red mug", "sneakers", "desk lamp", "blue shirt", "tote bag", "green sneaker", "vase", "lamp shade"]
KINDS = ["words"] * 5 + ["photo"] * 3 + ["photo_words", "similar", "category"]


def month_of_searches(model: EmbeddingModel, products: list[int], today: dt.date) -> None:
    """30 days of searches, photos drifting farther in the last week (seeded, so screenshots repeat)."""
    rng = random.Random(7)
    for back in range(29, -1, -1):
        day = today - dt.timedelta(days=back)
        for _ in range(rng.randint(25, 45)):
            kind = rng.choice(KINDS)
            photo = kind.startswith("photo")
            distance = rng.gauss(0.34 if back < 6 else 0.2, 0.05) if photo else None
            shown = [] if kind == "words" and rng.random() < 0.12 else rng.sample(products, rng.randint(1, 6))
            event = search_event(
                day, kind=kind, text=rng.choice(WORDS) if kind in ("words", "photo_words") else "",
                product_ids=shown, model=model, model_name=model.name, best_distance=distance,
                close_match=not photo or distance < 0.3, latency_ms=rng.lognormvariate(3.3, 0.4),
                visitor=f"{rng.randrange(40):016x}", created_at=at(day, rng.randint(8, 21)),
            )  # fmt: skip
            if shown and rng.random() < 0.4:
                result_open(event, rng.randint(1, len(shown)))
        photos = [0.2 if back >= 6 else 0.34]
        DriftDay.objects.create(
            model=model, day=day, photo_searches=12, no_match_searches=1 if back >= 6 else 6,
            distance_p10=photos[0] - 0.06, distance_p50=photos[0], distance_p90=photos[0] + 0.08,
            far_products_share=0.1, products_sampled=20, far_distance=0.3,
        )  # fmt: skip


@pytest.fixture
def dashboard(live_server, transactional_db, browser, django_user_model):  # noqa: F811
    today = timezone.localdate()
    model = EmbeddingModel.objects.create(
        name="offline", model_id="test/offline", image_dim=4, text_dim=4, shared_space=False, status="active",
        activated_at=at(today - dt.timedelta(days=29)),
    )  # fmt: skip
    products = [product_upsert(sku=f"B-{i}", title=f"Product {i}")[0].pk for i in range(25)]
    month_of_searches(model, products[:-3], today)
    SelfTestRun.objects.create(
        model=model, model_name="offline", status="done", catalog_size=25, sample_size=20, queries=20,
        recall_at_1=0.85, recall_at_10=0.95, no_match_share=0.05,
        per_category=[{"category": "Home", "queries": 20, "recall_at_1": 0.85, "recall_at_10": 0.95,
                       "no_match_share": 0.05}],
    )  # fmt: skip
    context, page = admin_signed_in(browser, live_server.url, django_user_model)
    yield live_server.url, page
    context.close()


def admin_signed_in(browser, url: str, django_user_model):  # noqa: F811
    """A browser context and page signed in to the admin as a new superuser."""
    django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-boss-123")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(url + "/admin/login/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "pw-boss-123")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    return context, page


def test_dashboard_charts_range_flags_and_csv(dashboard):
    url, page = dashboard
    page.goto(url + "/admin/insights/searchevent/")
    assert page.locator(".insights-chart svg").count() == 4
    assert page.locator(".insights-chart rect").count() >= 30  # a stacked bar part per day and kind
    assert page.locator("#insights-drift [role=alert]").count() >= 1
    assert "getting farther from your catalog" in page.locator("#insights-drift").inner_text()
    assert "Products never shown (3)" in page.locator("#never-shown h2").inner_text()
    shot(page, "insights-dashboard")
    # A shorter range: the same page, fewer days.
    page.fill("#id_start", (timezone.localdate() - dt.timedelta(days=6)).isoformat())
    page.click("#insights-dashboard button[type=submit]")
    page.wait_for_url("**start=*")
    assert page.locator("#daily-table tbody tr").count() == 7
    with page.expect_download() as download:
        page.click("#csv-export")
    lines = download.value.path().read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("day,searches,") and len(lines) == 8


def test_self_test_history_and_models_side_by_side(dashboard):
    url, page = dashboard
    page.goto(url + "/admin/insights/selftestrun/")
    assert page.locator("#self-test-start button").inner_text() == "Start self-test"
    assert "85%" in page.locator("#result_list").inner_text()
    shot(page, "insights-self-tests")
    page.goto(url + "/admin/search/embeddingmodel/")
    compare = page.locator("#self-test-compare").inner_text()
    assert "offline" in compare and "85%" in compare and "95%" in compare
    shot(page, "insights-models")
