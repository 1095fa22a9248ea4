"""The storefront's widgets write what Django's template-rendered widgets write, escaped the same."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django import forms
from django.test.html import parse_html
from django.utils.translation import gettext_lazy

from search.widgets import FixedChoices, HtmlCheckboxInput, HtmlNumberInput, HtmlSelect

CHOICES = [
    ("", "All categories"),
    (3, "Home > Kitchen"),
    ("a&b", "<script>alert(1)</script>"),
    ("x", "Twice"),
    ("x", "Twice"),
]


@pytest.mark.parametrize("value", [None, "", 3, "3", "a&b", ["x"], "missing"])
def test_select_matches_djangos_select(value):
    attrs = {"id": "id_category", "aria-invalid": "true", "required": True, "disabled": False}
    ours = HtmlSelect(choices=CHOICES).render("category", value, attrs=attrs)
    django = forms.Select(choices=CHOICES).render("category", value, attrs=attrs)
    assert parse_html(ours) == parse_html(django)


@pytest.mark.parametrize("value", [None, "", 3, "3", "a&b", ["x"], ["missing", "a&b", 3], "missing"])
def test_select_of_fixed_choices_matches_djangos_select_every_time(value):
    attrs = {"id": "id_category", "aria-invalid": "true", "required": True, "disabled": False}
    fixed = FixedChoices(CHOICES)
    django = forms.Select(choices=CHOICES).render("category", value, attrs=attrs)
    for _ in range(2):  # the options written once, then the selected one picked again
        assert HtmlSelect(choices=fixed).render("category", value, attrs=attrs) == HtmlSelect(choices=CHOICES).render(
            "category", value, attrs=attrs
        )
        assert parse_html(HtmlSelect(choices=fixed).render("category", value, attrs=attrs)) == parse_html(django)
    assert HtmlSelect(choices=fixed).render("category", "x").count(" selected") == 1


@pytest.mark.parametrize("choices", [[("a", gettext_lazy("Lazy"))], [("Tops", [(1, "Shirts")])]])
def test_fixed_choices_refuse_lazy_labels_and_groups(choices):
    with pytest.raises(ValueError, match="flat and not lazy"):
        FixedChoices(choices)


def test_select_escapes_labels_and_values_and_selects_one_option():
    html = HtmlSelect(choices=CHOICES).render("category", "x")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<option value="a&amp;b">' in html and "Home &gt; Kitchen" in html
    assert html.count(" selected") == 1 and '<option value="x" selected>Twice</option>' in html


def test_select_with_option_groups_uses_djangos_templates():
    grouped = [("Tops", [(1, "Shirts"), (2, "Tees")]), (3, "Shoes")]
    ours = HtmlSelect(choices=grouped).render("category", "2")
    assert parse_html(ours) == parse_html(forms.Select(choices=grouped).render("category", "2"))
    assert "<optgroup" in ours


@pytest.mark.parametrize("value", [None, "", Decimal("12.50"), "12<5"])
def test_number_input_matches_djangos(value):
    attrs = {"min": "0", "step": "0.01", "id": "id_price_min", "aria-invalid": "true"}
    ours = HtmlNumberInput().render("price_min", value, attrs=attrs)
    assert parse_html(ours) == parse_html(forms.NumberInput().render("price_min", value, attrs=attrs))


@pytest.mark.parametrize("value", [None, False, True, "on"])
def test_checkbox_matches_djangos(value):
    ours = HtmlCheckboxInput().render("in_stock", value, attrs={"id": "id_in_stock"})
    assert parse_html(ours) == parse_html(forms.CheckboxInput().render("in_stock", value, attrs={"id": "id_in_stock"}))
    assert ("checked" in ours) == (value is True or value == "on")


@pytest.mark.django_db
def test_search_form_fields_render_with_labels_ids_and_bound_values():
    from search.forms import SearchForm

    form = SearchForm({"price_min": "5", "in_stock": "on", "colour": "<b>"})
    assert 'id="id_price_min"' in str(form["price_min"]) and 'value="5"' in str(form["price_min"])
    assert "checked" in str(form["in_stock"])
    # An unknown colour is an error, and the field says so to assistive technology.
    assert not form.is_valid() and "colour" in form.errors
    assert 'aria-invalid="true"' in str(form["colour"])


@pytest.mark.django_db
def test_search_forms_share_their_filter_choices_until_the_options_change(monkeypatch):
    from search import forms as search_forms
    from search.selectors import FilterChoices

    # As filter_choices() gives them outside a transaction: the same category list until the tree changes.
    options = FilterChoices(["blue", "red"], [(3, "Home"), (4, "Home > Kitchen")])
    monkeypatch.setattr(search_forms, "filter_choices", lambda _: options._replace(attribute_values=["blue", "red"]))
    first, second = search_forms.SearchForm(), search_forms.SearchForm({"colour": "red"})
    assert first.fields["colour"].choices is second.fields["colour"].choices
    assert first.fields["category"].widget.choices is second.fields["category"].widget.choices
    monkeypatch.setattr(search_forms, "filter_choices", lambda _: FilterChoices(["red"], [(7, "Mugs")]))
    changed = search_forms.SearchForm({"colour": "red"})
    assert list(changed.fields["colour"].choices) == [("", "Any colour"), ("red", "Red")]
    assert list(changed.fields["category"].widget.choices) == [("", "All categories"), (7, "Mugs")]
    assert changed.is_valid() and '<option value="red" selected>Red</option>' in str(changed["colour"])
