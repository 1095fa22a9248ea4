"""Form widgets for the storefront that build their HTML in Python, not with the form renderer.

Django renders every widget, and every <option> of a <select>, through its template engine: on
the results page (a category filter of ~100 options, a colour filter, three inputs) that was about
half of the page's rendering time. These widgets write the same markup directly. All values and
labels are escaped as conditional_escape does (search/markup.py); attributes come from the widget's own build_attrs /
get_context, so min/step, required, aria-invalid and checked behave as in Django's widgets. The
price: a project's FORM_RENDERER templates do not apply to them.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.forms.renderers import BaseRenderer
from django.utils.safestring import SafeString

from search.markup import html_format, html_join

OPTION = '<option value="{}">{}</option>'
SELECTED_OPTION = '<option value="{}" selected>{}</option>'


def html_attrs(attrs: dict[str, Any]) -> SafeString:
    """Attributes as Django's attrs.html writes them: in order, True bare, False (and None) left out."""
    return html_join(
        "",
        (
            html_format(" {}", name) if value is True else html_format(' {}="{}"', name, value)
            for name, value in attrs.items()
            if value is not False and value is not None
        ),
    )


class HtmlSelect(forms.Select):
    """A single <select>; option groups fall back to Django's templates."""

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: BaseRenderer | None = None
    ) -> SafeString:
        chosen = set(self.format_value(value))
        options: list[SafeString] = []
        has_selected = False
        for option_value, label in self.choices:
            if isinstance(label, (list, tuple)):
                return super().render(name, value, attrs, renderer)
            option = "" if option_value is None else str(option_value)
            # As Django's Select: only the first option with the value is selected.
            selected = not has_selected and option in chosen
            has_selected |= selected
            options.append(html_format(SELECTED_OPTION if selected else OPTION, option, label))
        return html_format(
            '<select name="{}"{}>\n  {}\n</select>',
            name,
            html_attrs(self.build_attrs(self.attrs, attrs)),
            html_join("\n  ", options),
        )


class HtmlInputMixin:
    """For subclasses of forms.Input: one <input>, attributes as Input.get_context makes them."""

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: BaseRenderer | None = None
    ) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]  # type: ignore[attr-defined]
        shown = widget["value"]
        return html_format(
            '<input type="{}" name="{}"{}{}>',
            widget["type"],
            name,
            "" if shown is None else html_format(' value="{}"', shown),
            html_attrs(widget["attrs"]),
        )


class HtmlNumberInput(HtmlInputMixin, forms.NumberInput):
    pass


class HtmlCheckboxInput(HtmlInputMixin, forms.CheckboxInput):
    pass
