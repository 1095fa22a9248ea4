"""Drift watch: daily figures per model from the recorded searches and the index, compared with
the model's first weeks (and its calibration when it has one), flagged in plain words."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from insights.models import DriftDay
from insights.services.drift import (
    DISTANCE_MESSAGE,
    NO_MATCH_MESSAGE,
    drift_day_compute,
    drift_days_update,
    drift_report,
)
from search.models import EmbeddingModel
from tests.insights.factories import at, search_event

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 6, 30)


@pytest.fixture
def media_root(demo_media_root):
    return demo_media_root


@pytest.fixture
def old_model(db):
    """A model in use since 60 days before TODAY (retired, so it does not clash with the active one)."""
    return EmbeddingModel.objects.create(
        name="old", model_id="test/old", image_dim=4, text_dim=4, shared_space=False, status="retired",
        activated_at=at(TODAY - dt.timedelta(days=60)),
    )  # fmt: skip


def photo_searches(model, day, distances, *, no_match=0):
    for i, distance in enumerate(distances):
        search_event(day, kind="photo", model=model, model_name=model.name, best_distance=distance,
                     close_match=i >= no_match, product_ids=[1])  # fmt: skip


def days_of(model, first: dt.date, count: int, distances, *, no_match=0) -> None:
    for offset in range(count):
        day = first + dt.timedelta(days=offset)
        photo_searches(model, day, distances, no_match=no_match)
        drift_day_compute(model, day)


def test_day_figures_from_recorded_searches(old_model):
    photo_searches(old_model, TODAY, [0.1, 0.2, 0.3, 0.4, 0.5], no_match=2)
    search_event(TODAY, kind="words", model=old_model)  # words do not count
    row = drift_day_compute(old_model, TODAY)
    assert (row.photo_searches, row.no_match_searches, row.no_match_share) == (5, 2, 0.4)
    assert (row.distance_p10, row.distance_p50, row.distance_p90) == pytest.approx((0.14, 0.3, 0.46))
    assert row.far_products_share is None  # a retired model's vectors are not sampled


def test_far_products_share_of_the_active_model(demo_index):
    today = timezone.localdate()
    (row,) = [r for r in drift_days_update(today=today) if r.day == today]
    assert row.model_id == demo_index.pk and row.products_sampled > 10
    assert row.far_distance is not None and 0.0 <= row.far_products_share <= 1.0
    # Computed once a day: an hourly update does not sample again.
    DriftDay.objects.filter(pk=row.pk).update(far_products_share=0.5)
    drift_day_compute(demo_index, today)
    assert DriftDay.objects.get(pk=row.pk).far_products_share == 0.5


def test_photos_moving_away_from_the_catalog_are_flagged(old_model):
    first_weeks = TODAY - dt.timedelta(days=60)
    days_of(old_model, first_weeks, 14, [0.15, 0.2, 0.25] * 4, no_match=1)
    days_of(old_model, TODAY - dt.timedelta(days=6), 7, [0.3, 0.35, 0.4] * 4, no_match=6)
    report = drift_report(old_model, today=TODAY)
    assert report.baseline.days == 14 and report.recent.days == 7
    assert report.baseline.distance_p50 == pytest.approx(0.2) and report.recent.distance_p50 == pytest.approx(0.35)
    flags = {flag.figure: flag for flag in report.flags}
    assert set(flags) == {"distance", "no_match"}
    assert flags["distance"].message == DISTANCE_MESSAGE and flags["distance"].reference_name == "first weeks"
    assert flags["no_match"].now == pytest.approx(0.5) and flags["no_match"].reference == pytest.approx(1 / 12)


def test_no_flag_within_bounds_or_with_too_few_searches(old_model, settings):
    first_weeks = TODAY - dt.timedelta(days=60)
    days_of(old_model, first_weeks, 14, [0.2] * 12, no_match=1)
    days_of(old_model, TODAY - dt.timedelta(days=6), 7, [0.21] * 12, no_match=1)
    assert drift_report(old_model, today=TODAY).flags == []
    settings.SNAPSHELF_INSIGHTS_DRIFT_MIN_QUERIES = 1000
    days_of(old_model, TODAY - dt.timedelta(days=6), 1, [0.9] * 12, no_match=12)
    assert drift_report(old_model, today=TODAY).flags == []


def test_dashboard_shows_the_flag_in_words(admin_client, demo_index, settings):
    settings.SNAPSHELF_INSIGHTS_DRIFT_PRODUCT_SAMPLE = 5
    today = timezone.localdate()
    EmbeddingModel.objects.filter(pk=demo_index.pk).update(activated_at=at(today - dt.timedelta(days=40)))
    days_of(demo_index, today - dt.timedelta(days=40), 14, [0.1] * 5, no_match=0)
    days_of(demo_index, today - dt.timedelta(days=3), 4, [0.5] * 10, no_match=8)
    page = admin_client.get(reverse("admin:insights_searchevent_changelist")).content.decode()
    drift = page.split('id="insights-drift"')[1].split("</section>")[0]
    assert "photos are getting farther from your catalog" in DISTANCE_MESSAGE
    assert "photos are getting farther from your catalog" in drift and NO_MATCH_MESSAGE.split('"')[0] in drift
    assert 'role="alert"' in drift
    assert "Photo searches: distance to the nearest catalog photo (offline)" in page
