from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.utils import html

from catalog.models import Category
from search.conf import search_setting
from storeapi.conf import api_setting
from storeapi.serializers.fields import (
    PriceField,
    QueryParamsSerializer,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
)
from storeapi.serializers.products import CategorySerializer, ProductImageSerializer, ProductSerializer


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "format": "binary", "description": "multipart/form-data: the photo."},
            {"type": "string", "description": "JSON: the photo as base64, or a data: URL."},
        ]
    }
)
class ImageBytesField(serializers.Field):
    """A photo: an uploaded file (multipart) or base64 text / a data: URL (JSON). Gives bytes."""

    def to_internal_value(self, data: Any) -> bytes:
        limit = search_setting("SEARCH_QUERY_IMAGE_MAX_BYTES")
        if hasattr(data, "read") and hasattr(data, "size"):
            if data.size > limit:
                raise serializers.ValidationError(f"The file is larger than the limit of {limit:,} bytes.")
            return bytes(data.read())
        if not isinstance(data, str):
            raise serializers.ValidationError("Send a file (multipart) or base64 text (JSON).")
        if data.startswith("data:"):
            data = data.partition(",")[2]
        if len(data) > limit * 4 // 3 + 4:
            raise serializers.ValidationError(f"The image is larger than the limit of {limit:,} bytes.")
        try:
            return base64.b64decode(data.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise serializers.ValidationError("This is not valid base64.") from exc

    def to_representation(self, value: Any) -> Any:
        return None


@extend_schema_field({"type": "string", "format": "binary", "description": "The photo: JPEG, PNG, WebP or GIF."})
class ImageFileField(ImageBytesField):
    """A photo as a multipart file part (base64 text in a form field is still taken, as before 1.1)."""


@extend_schema_field({"type": "string", "description": "The photo as base64, or as a data: URL."})
class ImageBase64Field(ImageBytesField):
    """A photo in a JSON body: base64 text or a data: URL."""


class SearchFiltersSerializer(serializers.Serializer):
    category = serializers.PrimaryKeyRelatedField(
        queryset=Category.objects.all(), required=False, allow_null=True, help_text="A category id (and below)."
    )
    price_min = PriceField(required=False, allow_null=True)
    price_max = PriceField(required=False, allow_null=True)
    in_stock = StrictBooleanField(required=False, allow_null=True, default=None)
    brand = StrictCharField(required=False, allow_blank=True, max_length=200, default="")
    attributes = serializers.DictField(
        child=StrictCharField(max_length=200), required=False, default=dict, help_text='e.g. {"colour": "red"}'
    )

    def get_value(self, dictionary: Any) -> Any:
        # DRF reads nested serializers from forms as "filters.brand" keys; ours send one JSON field.
        if html.is_html_input(dictionary) and self.field_name in dictionary:
            return dictionary[self.field_name]
        return super().get_value(dictionary)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str):  # multipart forms send the filters as JSON text
            try:
                data = json.loads(data) if data.strip() else {}
            except ValueError as exc:
                raise serializers.ValidationError({"non_field_errors": ["filters must be a JSON object."]}) from exc
        return super().to_internal_value(data)


class SearchRequestSerializer(serializers.Serializer):
    text = StrictCharField(required=False, allow_blank=True, max_length=500, default="")
    image = ImageBytesField(required=False)
    filters = SearchFiltersSerializer(required=False)
    limit = StrictIntegerField(required=False, min_value=1, default=24)
    cursor = StrictCharField(required=False, max_length=2000, help_text="next_cursor of the previous page.")

    def validate_limit(self, value: int) -> int:
        return _limit_check(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return _request_check(attrs)


# The two bodies the schema documents for a search, one per content type, so that a client generator
# knows what to send; they differ only in how the photo travels. SearchRequestSerializer, which the
# view runs, takes either. In multipart bodies `filters` is a JSON part (OpenAPI's default encoding
# of an object property), which SearchFiltersSerializer reads.
class SearchQuerySerializer(SearchRequestSerializer):
    """application/json: text, a photo as base64, or both."""

    image = ImageBase64Field(required=False)


class SearchPhotoUploadSerializer(SearchRequestSerializer):
    """multipart/form-data: a photo file, with text or filters if wanted."""

    image = ImageFileField(required=False)


def _limit_check(value: int) -> int:
    limit = api_setting("API_SEARCH_MAX_LIMIT")
    if value > limit:
        raise serializers.ValidationError(f"Ensure this value is less than or equal to {limit}.")
    return value


def _request_check(attrs: dict[str, Any]) -> dict[str, Any]:
    filters = attrs.get("filters") or {}
    if not any((attrs.get("text", "").strip(), attrs.get("image"), attrs.get("cursor"), filters.get("category"))):
        raise serializers.ValidationError("Send text, an image (or both), or a category filter to browse.")
    return attrs


class SearchHitSerializer(serializers.Serializer):
    product = ProductSerializer()
    score = serializers.FloatField(help_text="Higher is better; comparable within one result list.")
    distance = serializers.FloatField(allow_null=True, help_text="Cosine distance of the best image (photo searches).")
    matched_image = ProductImageSerializer(allow_null=True)
    reasons = serializers.ListField(child=StrictCharField())


class SearchResponseSerializer(serializers.Serializer):
    results = SearchHitSerializer(many=True)
    next_cursor = StrictCharField(allow_null=True)
    close_match = StrictBooleanField(
        help_text="False: even the best hit is farther from the photo than a real match usually is ('no exact "
        "match'); the results are still the nearest products."
    )
    fallback = StrictCharField(
        help_text="When close_match is false, what is offered beside the results: 'keyword' (alternatives) or "
        "'category' (suggested_categories); else ''."
    )
    model = StrictCharField(help_text="The embedding model that ranked the results.")
    corrected_text = StrictCharField(help_text="The words searched for when some were corrected, else ''.")
    suggested_categories = CategorySerializer(many=True, help_text="Categories to browse when nothing is close.")
    alternatives = SearchHitSerializer(
        many=True, help_text="When nothing is close, the first results for the words alone (fallback 'keyword')."
    )
    search_id = StrictCharField(
        allow_null=True,
        help_text="Report an opened result with it (POST search/opened/); null when searches are not recorded.",
    )


class ResultOpenedSerializer(serializers.Serializer):
    search_id = StrictCharField(max_length=200, help_text="search_id of the answer the result was in.")
    rank = StrictIntegerField(min_value=1, max_value=100_000, help_text="The result's place, 1 for the first.")
    product = StrictIntegerField(min_value=1, max_value=2**63 - 1, help_text="The product's id.")


class SimilarResponseSerializer(serializers.Serializer):
    results = SearchHitSerializer(many=True)


class SimilarParamsSerializer(QueryParamsSerializer):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=12)


class EmbeddingModelSerializer(serializers.Serializer):
    name = StrictCharField()
    model_id = StrictCharField()
    status = StrictCharField()
    image_dim = serializers.IntegerField()
    text_dim = serializers.IntegerField()
    activated_at = serializers.DateTimeField(allow_null=True)


class ModelCountsSerializer(serializers.Serializer):
    model = EmbeddingModelSerializer()
    counts = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField()),
        help_text='Per kind ("image", "product"), rows per status (pending, processing, ready, failed).',
    )


class IndexStatusSerializer(serializers.Serializer):
    active = EmbeddingModelSerializer(allow_null=True, help_text="The model searches use.")
    building = EmbeddingModelSerializer(allow_null=True, help_text="A model whose vectors are being built.")
    models = ModelCountsSerializer(many=True)
    pending = serializers.IntegerField()
    per_minute = serializers.FloatField(help_text="Rows embedded per minute over the last 10 minutes.")
