"""The self-test: shopper-like copies of the catalog's own photos searched through the search
service, from the command, the admin (a Celery task) and beside the models on the index page."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from insights.models import SelfTestRun
from insights.services.self_test import SelfTestError, self_test_create, self_test_execute, self_test_run
from search.models import EmbeddingModel
from search.services.model_switch import embedding_model_activate

pytestmark = pytest.mark.django_db


@pytest.fixture
def media_root(demo_media_root):
    return demo_media_root


def test_search_eval_prints_and_keeps_the_run(demo_index, capsys):
    call_command("search_eval", "--sample", "12", "--seed", "3", "--json")
    printed = json.loads(capsys.readouterr().out)
    run = SelfTestRun.objects.get()
    assert run.status == "done" and run.model_id == demo_index.pk and run.queries == 12 == printed["queries"]
    assert run.catalog_size > 12 and printed["catalog_size"] == run.catalog_size
    assert 0.0 <= run.recall_at_1 <= run.recall_at_10 <= 1.0 and 0.0 <= run.no_match_share <= 1.0
    # Per top-level category (the demo's categories are "Kitchen", "Home", ...), adding up to the whole.
    assert sum(row["queries"] for row in run.per_category) == 12
    assert all(">" not in row["category"] for row in run.per_category)
    first_hits = sum(row["recall_at_1"] * row["queries"] for row in run.per_category)
    assert first_hits == pytest.approx(run.recall_at_1 * 12)
    # The same seed draws the same photos and the same copies: the same figures.
    again = self_test_run(self_test_create(sample=12, seed=3))
    assert (again.recall_at_1, again.recall_at_10, again.no_match_share) == (
        run.recall_at_1, run.recall_at_10, run.no_match_share,
    )  # fmt: skip


def test_search_eval_table_and_errors(demo_index, capsys):
    call_command("search_eval", "--sample", "4")
    out = capsys.readouterr().out
    assert "Self-test of offline: 4 photos" in out and "\nall " in out
    with pytest.raises(CommandError, match="No active or building model is called 'nope'"):
        call_command("search_eval", "--model", "nope")
    with pytest.raises(CommandError, match="between 1 and 5000"):
        call_command("search_eval", "--sample", "0")


def test_a_model_being_built_without_vectors_cannot_be_tested_yet(demo_index, tiny_models):
    building = embedding_model_activate("tiny")
    assert building.status == EmbeddingModel.Status.BUILDING
    with pytest.raises(SelfTestError, match="tiny has no catalog photo indexed yet"):
        self_test_run(self_test_create(model=building, sample=5))


def test_admin_queues_a_run_that_a_worker_executes(admin_client, demo_index, django_capture_on_commit_callbacks):
    start = reverse("admin:insights_selftestrun_start")
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(start, {"model": demo_index.pk, "sample": 5, "seed": 1})
    assert response.status_code == 302 and len(callbacks) == 1  # the task is sent after commit
    run = SelfTestRun.objects.get()
    assert run.status == "queued"
    assert self_test_execute(run.pk).status == "done"
    assert self_test_execute(run.pk) is None  # a second delivery does nothing
    history = admin_client.get(reverse("admin:insights_selftestrun_changelist")).content.decode()
    assert "Start self-test" in history and "offline" in history
    detail = admin_client.get(reverse("admin:insights_selftestrun_change", args=[run.pk])).content.decode()
    assert "Per top-level category" in detail
    bad = admin_client.post(start, {"model": demo_index.pk, "sample": 0, "seed": 1}, follow=True)
    assert "Ensure this value is greater than or equal to 1." in bad.content.decode()
    assert SelfTestRun.objects.count() == 1


def test_index_page_shows_the_active_and_the_building_model_side_by_side(admin_client, demo_index, tiny_models):
    run = self_test_run(self_test_create(sample=4))
    building = embedding_model_activate("tiny")
    page = admin_client.get(reverse("admin:search_embeddingmodel_changelist")).content.decode()
    section = page.split('id="self-test-compare"')[1].split("</table>")[0]
    assert f"<td>{demo_index.name}</td><td>Active</td>" in section
    assert f"<td>{building.name}</td><td>Building</td>" in section and "not tested yet" in section
    assert reverse("admin:insights_selftestrun_change", args=[run.pk]) in section
    assert 'id="search-index-status"' in page  # the search app's own index summary is still there
