"""The dashboard's figures (ORM aggregates on Postgres), its page, charts and CSV export."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse

from catalog.services import product_upsert
from insights.selectors import DateRange, days_figures, open_figures, products_never_shown, top_queries
from tests.insights.factories import result_open, search_event

pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 3, 2)
NEXT = DAY + dt.timedelta(days=1)
DASHBOARD = "admin:insights_searchevent_changelist"


@pytest.fixture
def week():
    """Two days of searches over three products, one never shown."""
    mug, _ = product_upsert(sku="D-MUG", title="Red mug")
    lamp, _ = product_upsert(sku="D-LAMP", title="Desk lamp")
    hidden, _ = product_upsert(sku="D-HIDDEN", title="Hidden vase")
    events = [
        search_event(DAY, text="Mug", product_ids=[mug.pk, lamp.pk], latency_ms=10, visitor="a" * 16),
        search_event(DAY, text="mug", product_ids=[mug.pk], latency_ms=20, visitor="a" * 16),
        search_event(DAY, text="vase", product_ids=[], latency_ms=30, visitor="b" * 16),
        search_event(DAY, kind="photo", product_ids=[lamp.pk], close_match=False, best_distance=0.4, latency_ms=40),
        search_event(NEXT, text="vase", product_ids=[], latency_ms=100),
        search_event(NEXT, kind="photo", product_ids=[mug.pk, lamp.pk], best_distance=0.1, latency_ms=200),
    ]
    result_open(events[0], 2)
    result_open(events[1], 1)
    result_open(events[5], 2)
    return {"mug": mug, "lamp": lamp, "hidden": hidden, "events": events}


def test_figures_per_day(week):
    first, second, third = days_figures(DateRange(DAY, NEXT + dt.timedelta(days=1)))
    assert first.by_kind == {"words": 3, "photo": 1} and second.by_kind == {"words": 1, "photo": 1}
    assert (first.searches, first.no_results, first.no_close_match, first.photo_searches) == (4, 1, 1, 1)
    assert first.no_results_share == 0.25 and first.no_close_match_share == 1.0
    assert first.visitors == 2 and first.opens == 2 and second.opens == 1
    # percentile_cont interpolates: the median of 10, 20, 30, 40 is 25; p95 is 38.5.
    assert first.latency_p50 == pytest.approx(25.0) and first.latency_p95 == pytest.approx(38.5)
    assert third.searches == 0 and third.latency_p50 is None and third.no_results_share is None


def test_top_queries_fold_case_and_failed_ones(week):
    days = DateRange(DAY, NEXT)
    assert [(q.text, q.searches, q.failed) for q in top_queries(days)] == [("mug", 2, 0), ("vase", 2, 2)]
    assert [(q.text, q.searches) for q in top_queries(days, failed_only=True)] == [("vase", 2)]
    assert top_queries(DateRange(NEXT, NEXT), failed_only=True)[0].searches == 1


def test_click_through_median_rank_and_never_shown(week):
    figures = open_figures(DateRange(DAY, NEXT))
    # Four searches showed something; three of them had a result opened (ranks 2, 1, 2).
    assert (figures.searches_with_results, figures.searches_opened, figures.opens) == (4, 3, 3)
    assert figures.click_through == 0.75 and figures.median_rank == 2.0
    assert list(products_never_shown(DateRange(DAY, NEXT))) == [week["hidden"]]
    # On the second day the photo search showed mug and lamp, so only the vase was never shown.
    assert set(products_never_shown(DateRange(NEXT, NEXT))) == {week["hidden"]}
    assert set(products_never_shown(DateRange(NEXT + dt.timedelta(days=1), NEXT + dt.timedelta(days=1)))) == {
        week["mug"],
        week["lamp"],
        week["hidden"],
    }


def test_dashboard_page_draws_charts_and_tables(admin_client, week):
    page = admin_client.get(reverse(DASHBOARD), {"start": DAY.isoformat(), "end": NEXT.isoformat()})
    html = page.content.decode()
    assert page.status_code == 200
    assert html.count('<figure class="insights-chart">') == 3  # kinds, failures, latency (no model: no drift)
    assert "Searches per day by kind" in html and "<rect" in html and "<polyline" in html
    assert 'id="top-failed"' in html and "<td>vase</td>" in html
    assert "Hidden vase" in html and "Products never shown (1)" in html
    assert f"start={DAY.isoformat()}&amp;end={NEXT.isoformat()}" in html


def test_dashboard_refuses_a_bad_range_with_a_message(admin_client, week):
    page = admin_client.get(reverse(DASHBOARD), {"start": NEXT.isoformat(), "end": DAY.isoformat()})
    assert page.status_code == 400 and "The start must not be after the end." in page.content.decode()
    assert admin_client.get(reverse(DASHBOARD), {"start": "yesterday"}).status_code == 400
    csv_bad = admin_client.get(reverse("admin:insights_searchevent_csv"), {"start": "2026-13-01"})
    assert csv_bad.status_code == 400 and "valid date" in csv_bad.content.decode()


def test_csv_export(admin_client, week):
    response = admin_client.get(
        reverse("admin:insights_searchevent_csv"), {"start": DAY.isoformat(), "end": NEXT.isoformat()}
    )
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["day"] for r in rows] == [DAY.isoformat(), NEXT.isoformat()]
    assert rows[0]["searches"] == "4" and rows[0]["photo"] == "1" and rows[0]["no_close_match"] == "1"
    assert rows[1]["latency_p95_ms"] == "195.0" and rows[1]["opened"] == "1"


def test_dashboard_needs_staff(client, week):
    response = client.get(reverse(DASHBOARD))
    assert response.status_code == 302 and "/login/" in response["Location"]
