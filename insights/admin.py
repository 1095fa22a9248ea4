"""The merchant's view: the search dashboard, self-test history, and self-tests beside the models."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from insights.conf import insights_setting
from insights.dashboard import dashboard_context, dashboard_csv
from insights.forms import DateRangeForm, SelfTestForm
from insights.models import SearchEvent, SelfTestRun
from insights.services.self_test import SelfTestError, self_test_queue, self_tests_latest
from search.admin import EmbeddingModelAdmin
from search.models import EmbeddingModel


@admin.register(SearchEvent)
class SearchEventAdmin(admin.ModelAdmin):
    """ "Searches" in the admin is the dashboard; the records themselves are not browsed one by one."""

    change_list_template = "admin/insights/dashboard.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        csv_view = self.admin_site.admin_view(self.csv_view)
        return [path("csv/", csv_view, name="insights_searchevent_csv"), *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = DateRangeForm(request.GET or None)
        days = form.date_range
        context = {
            **self.admin_site.each_context(request),
            "title": "Search dashboard",
            "opts": self.model._meta,
            "form": form,
            "csv_query": f"start={days.start.isoformat()}&end={days.end.isoformat()}",
            **dashboard_context(days),
        }
        status = 400 if request.GET and not form.is_valid() else 200
        return TemplateResponse(request, self.change_list_template, context, status=status)

    def csv_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = DateRangeForm(request.GET or None)
        if request.GET and not form.is_valid():
            errors = [str(error) for errors in form.errors.values() for error in errors]
            return HttpResponse("; ".join(errors), status=400, content_type="text/plain; charset=utf-8")
        days = form.date_range
        response = HttpResponse(dashboard_csv(days), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="searches-{days.start}-{days.end}.csv"'
        return response


@admin.register(SelfTestRun)
class SelfTestRunAdmin(admin.ModelAdmin):
    list_display = [
        "created_at", "model_name", "status", "source", "catalog_size", "queries", "recall_1", "recall_10",
        "no_match",
    ]  # fmt: skip
    list_filter = ["model_name", "status", "source"]
    readonly_fields = [f.name for f in SelfTestRun._meta.fields]
    change_list_template = "admin/insights/selftestrun/change_list.html"
    change_form_template = "admin/insights/selftestrun/change_form.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Recall@1")
    def recall_1(self, run: SelfTestRun) -> str:
        return _share(run.recall_at_1)

    @admin.display(description="Recall@10")
    def recall_10(self, run: SelfTestRun) -> str:
        return _share(run.recall_at_10)

    @admin.display(description="No close match")
    def no_match(self, run: SelfTestRun) -> str:
        return _share(run.no_match_share)

    def get_urls(self) -> list[URLPattern]:
        start = self.admin_site.admin_view(self.start_view)
        return [path("start/", start, name="insights_selftestrun_start"), *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "start_form": SelfTestForm(initial=_form_initial())}
        return super().changelist_view(request, extra_context)

    def start_view(self, request: HttpRequest) -> HttpResponse:
        """POST: queue a self-test (a Celery task); answers with the history page."""
        if request.method != "POST" or not self.has_view_permission(request):
            raise PermissionDenied
        if not request.user.has_perm("insights.add_selftestrun"):
            raise PermissionDenied
        form = SelfTestForm(request.POST)
        back = reverse("admin:insights_selftestrun_changelist")
        if not form.is_valid():
            for errors in form.errors.values():
                for error in errors:
                    self.message_user(request, str(error), messages.ERROR)
            return HttpResponseRedirect(back)
        try:
            run = self_test_queue(
                model=form.cleaned_data["model"], sample=form.cleaned_data["sample"], seed=form.cleaned_data["seed"]
            )
        except SelfTestError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(back)
        self.message_user(request, f"Self-test of {run.model_name} queued; reload this page to see it finish.")
        return HttpResponseRedirect(back)


def _form_initial() -> dict[str, Any]:
    active = EmbeddingModel.objects.filter(status=EmbeddingModel.Status.ACTIVE).first()
    return {"model": active.pk if active else None, "sample": insights_setting("INSIGHTS_SELF_TEST_SAMPLE"), "seed": 0}


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


class EmbeddingModelSelfTestAdmin(EmbeddingModelAdmin):
    """The index page, with the latest self-test of the active model beside the one being built."""

    change_list_template = "admin/insights/embeddingmodel_change_list.html"

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        models = list(EmbeddingModel.objects.exclude(status=EmbeddingModel.Status.RETIRED).order_by("status"))
        latest = self_tests_latest(models)
        comparison = [(model, latest.get(model.pk)) for model in models]
        extra_context = {**(extra_context or {}), "self_tests": comparison, "start_form": SelfTestForm()}
        return super().changelist_view(request, extra_context)


admin.site.unregister(EmbeddingModel)
admin.site.register(EmbeddingModel, EmbeddingModelSelfTestAdmin)
