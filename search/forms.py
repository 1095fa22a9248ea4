"""The storefront's search form: words, a photo (file picker or camera), a token, filters, a page."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile
from PIL import Image

from catalog.conf import catalog_setting
from catalog.image_intake import ImageRejected, image_to_rgb, image_validate
from catalog.models import Category
from search.selectors import attribute_values
from search.services.product_search import SearchFilters, SearchQuery

PAGE_SIZE = 24
MAX_PAGE = 40


class SearchForm(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=500)
    photo = forms.FileField(label="Photo", required=False)
    # A second input with capture="environment": phones open the camera for it.
    camera = forms.FileField(label="Take a photo", required=False)
    token = forms.RegexField(regex=r"^[A-Za-z0-9_-]{16,64}$", required=False, widget=forms.HiddenInput)
    category = forms.ModelChoiceField(Category.objects.all(), required=False, empty_label="All categories")
    colour = forms.ChoiceField(required=False)
    price_min = forms.DecimalField(label="Price from", required=False, min_value=0, max_digits=12, decimal_places=2)
    price_max = forms.DecimalField(label="Price to", required=False, min_value=0, max_digits=12, decimal_places=2)
    in_stock = forms.BooleanField(label="In stock only", required=False)
    page = forms.IntegerField(required=False, min_value=1, max_value=MAX_PAGE, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        colours = attribute_values("colour")
        self.fields["colour"].choices = [("", "Any colour")] + [(c, c.title()) for c in colours]
        self.image: Image.Image | None = None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        upload = cleaned.get("photo") or cleaned.get("camera")
        if upload:
            self.image = self._image(upload)
        return cleaned

    def _image(self, upload: UploadedFile) -> Image.Image | None:
        limit = catalog_setting("IMAGE_MAX_BYTES")
        if (upload.size or 0) > limit:
            self.add_error("photo", f"The photo is too large ({upload.size / 1_048_576:.1f} MB); the limit is "
                                    f"{limit / 1_048_576:.0f} MB.")  # fmt: skip
            return None
        try:
            data = upload.read()
            image_validate(data)
            return image_to_rgb(data)
        except ImageRejected as exc:
            self.add_error("photo", str(exc))
            return None

    @property
    def has_query(self) -> bool:
        data = self.cleaned_data
        return bool(self.image or data.get("q", "").strip() or data.get("token") or data.get("category"))

    def search_query(self) -> SearchQuery:
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
            image=self.image,
            image_token="" if self.image else data.get("token", ""),
            filters=filters,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
