from __future__ import annotations

from typing import Any

from django import forms
from django.core.files.base import ContentFile

from catalog.image_intake import ImageRejected, ValidatedImage, image_validate
from catalog.models import ProductImage


class ProductImageForm(forms.ModelForm):
    """Admin image form: the upload passes the same checks as every other image intake."""

    class Meta:
        model = ProductImage
        fields = ["file", "position", "alt_text", "search_only"]

    def clean_file(self) -> Any:
        upload = self.cleaned_data.get("file")
        if upload is None or not hasattr(upload, "read") or upload == self.initial.get("file"):
            return upload
        upload.seek(0)
        try:
            self.validated_image: ValidatedImage | None = image_validate(upload.read())
        except ImageRejected as exc:
            raise forms.ValidationError(str(exc)) from exc
        # What is stored is the image without its metadata (EXIF, GPS, comments), upright.
        return ContentFile(
            self.validated_image.data, name=f"{self.validated_image.sha256[:32]}.{self.validated_image.extension}"
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        validated = getattr(self, "validated_image", None)
        product = getattr(self.instance, "product", None) if self.instance.product_id else None
        if validated is not None and product is not None:
            hashes = {validated.sha256, validated.source_sha256} - {""}
            duplicate = ProductImage.objects.filter(product=product, sha256__in=hashes)
            if duplicate.exclude(pk=self.instance.pk).exists():
                self.add_error("file", "This product already has an image with the same bytes.")
        return cleaned

    def save(self, commit: bool = True) -> ProductImage:
        validated = getattr(self, "validated_image", None)
        if validated is not None:
            self.instance.sha256 = validated.sha256
            self.instance.width, self.instance.height = validated.width, validated.height
        return super().save(commit=commit)
