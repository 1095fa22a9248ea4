"""The storefront's search form: words, a photo (file picker or camera), a token, filters, a page."""

from __future__ import annotations

import hashlib
from functools import cached_property
from typing import Any, cast

from django import forms
from django.core.files.uploadedfile import UploadedFile

from catalog.models import Category
from catalog.selectors import categories_by_id, categories_version, category_paths
from search.conf import search_setting
from search.selectors import attribute_values
from search.services.product_search import SearchFilters, SearchQuery

PAGE_SIZE = 24
MAX_PAGE = 40
ALL_CATEGORIES = "All categories"
ANY_COLOUR = "Any colour"


class SearchForm(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=500)
    photo = forms.FileField(label="Photo", required=False)
    # A second input with capture="environment": phones open the camera for it.
    camera = forms.FileField(label="Take a photo", required=False)
    token = forms.RegexField(regex=r"^[A-Za-z0-9_-]{16,64}$", required=False, widget=forms.HiddenInput)
    # The options are read from the database once, and only when needed: to check a chosen
    # category (clean_category looks it up in the same read) or to render the select when the
    # results page's fragment cache misses it.
    category = forms.ChoiceField(required=False)
    colour = forms.ChoiceField(required=False)
    price_min = forms.DecimalField(label="Price from", required=False, min_value=0, max_digits=12, decimal_places=2)
    price_max = forms.DecimalField(label="Price to", required=False, min_value=0, max_digits=12, decimal_places=2)
    in_stock = forms.BooleanField(label="In stock only", required=False)
    page = forms.IntegerField(required=False, min_value=1, max_value=MAX_PAGE, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        colours = attribute_values("colour")
        cast(forms.ChoiceField, self.fields["colour"]).choices = [
            ("", ANY_COLOUR),
            *((value, value.title()) for value in colours),
        ]
        cast(forms.ChoiceField, self.fields["category"]).choices = self._category_choices
        # The uploaded photo's bytes; the view has them decoded and embedded once (query_photo_embed).
        self.photo_data: bytes | None = None

    @cached_property
    def categories(self) -> dict[int, Category]:
        self.categories_version  # noqa: B018 - read before the tree: what is cached under it is never older
        return categories_by_id()

    @cached_property
    def categories_version(self) -> str:
        return categories_version()

    def _category_choices(self) -> list[tuple[int | str, str]]:
        return [("", ALL_CATEGORIES), *category_paths(self.categories)]

    def clean_category(self) -> Category | None:
        """The chosen category, its ancestors loaded (ChoiceField has checked it is one)."""
        value = self.cleaned_data.get("category")
        return self.categories[int(value)] if value else None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        upload = cleaned.get("photo") or cleaned.get("camera")
        if upload:
            self.photo_data = self._photo(upload)
        return cleaned

    def _photo(self, upload: UploadedFile) -> bytes | None:
        limit = search_setting("SEARCH_QUERY_IMAGE_MAX_BYTES")
        size = upload.size or 0
        if size > limit:
            self.add_error("photo", f"The photo is too large ({size / 1_048_576:.1f} MB); the limit is "
                                    f"{limit / 1_048_576:.0f} MB.")  # fmt: skip
            return None
        data = upload.read()
        if not data:
            self.add_error("photo", "The file is empty.")
            return None
        return data

    @property
    def filter_options_version(self) -> str:
        """The version of the category and colour options: the results page keeps the rendered
        selects in Django's cache under it (with the chosen values). The categories' version
        changes once a category's save or delete commits (catalog.selectors.categories_version),
        the colours are in it, so a change to either is a new key, never a stale page."""
        options = repr((self.categories_version, self.fields["colour"].choices))  # type: ignore[attr-defined]
        return hashlib.blake2b(options.encode(), digest_size=16).hexdigest()

    @property
    def has_query(self) -> bool:
        data = self.cleaned_data
        return bool(self.photo_data or data.get("q", "").strip() or data.get("token") or data.get("category"))

    def search_query(self, *, owner: str) -> SearchQuery:
        """The query; ``owner`` is who a photo's token belongs to (the shopper's session)."""
        data = self.cleaned_data
        filters = SearchFilters(
            category=data.get("category"),
            price_min=data.get("price_min"),
            price_max=data.get("price_max"),
            in_stock=True if data.get("in_stock") else None,
            attributes={"colour": data["colour"]} if data.get("colour") else {},
        )
        page = data.get("page") or 1
        return SearchQuery(
            text=data.get("q", ""),
            image_token=data.get("token", ""),
            owner=owner,
            filters=filters,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
