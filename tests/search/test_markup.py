"""html_format and html_join escape exactly as Django's format_html and format_html_join."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils.functional import lazy
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from search.markup import html_escape, html_format, html_join

VALUES = [
    "plain",
    "<script>alert('x')</script> & \"quotes\"",
    mark_safe("<b>kept</b>"),
    lazy(lambda: "<i>lazy</i>", str)(),
    lazy(lambda: mark_safe("<i>lazy safe</i>"), SafeString)(),
    3,
    Decimal("9.50"),
    None,
]


@pytest.mark.parametrize("value", VALUES)
def test_html_format_escapes_as_format_html(value):
    ours = html_format('<a title="{}">{}</a>', value, value)
    assert ours == format_html('<a title="{}">{}</a>', value, value)
    assert isinstance(ours, SafeString)


def test_html_join_escapes_unsafe_parts_and_keeps_safe_ones():
    ours = html_join("<br>", VALUES)
    assert ours == format_html_join(mark_safe("&lt;br&gt;"), "{}", ((value,) for value in VALUES))
    assert "<script>" not in ours and "<b>kept</b>" in ours and isinstance(ours, SafeString)


def test_html_escape_leaves_safe_strings_alone():
    assert html_escape(mark_safe("&amp;")) == "&amp;" and html_escape("&amp;") == "&amp;amp;"
