"""The dashboard's date range and the self-test's start form."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone

from insights.selectors import DateRange
from search.models import EmbeddingModel

DEFAULT_DAYS = 30
MAX_DAYS = 366


class DateRangeForm(forms.Form):
    start = forms.DateField(required=False, widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}))

    def __init__(self, data: Any = None) -> None:
        default = DateRange.last_days(DEFAULT_DAYS)
        super().__init__(data, initial={"start": default.start, "end": default.end})

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        today = timezone.localdate()
        end = data.get("end") or today
        start = data.get("start") or end - dt.timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            raise forms.ValidationError("The start must not be after the end.")
        if (end - start).days >= MAX_DAYS:
            raise forms.ValidationError(f"Choose at most {MAX_DAYS} days.")
        data["range"] = DateRange(start, end)
        return data

    @property
    def date_range(self) -> DateRange:
        return self.cleaned_data["range"] if self.is_valid() else DateRange.last_days(DEFAULT_DAYS)


class SelfTestForm(forms.Form):
    model = forms.ModelChoiceField(
        queryset=EmbeddingModel.objects.exclude(status=EmbeddingModel.Status.RETIRED),
        help_text="The active model, or the one being built.",
    )
    sample = forms.IntegerField(min_value=1, max_value=5000, initial=200, help_text="Catalog photos to test.")
    seed = forms.IntegerField(min_value=0, max_value=2**31 - 1, initial=0)
