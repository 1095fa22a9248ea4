from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from catalog.models import Product
from search.conf import search_setting
from search.services.product_search import SearchError, SearchFilters, products_similar
from storeapi.serializers.search import (
    SearchPhotoUploadSerializer,
    SearchQuerySerializer,
    SearchRequestSerializer,
    SearchResponseSerializer,
    SimilarParamsSerializer,
    SimilarResponseSerializer,
)
from storeapi.services.search import ApiSearch, api_search_owner, search_run
from storeapi.views.base import FORM_OVERHEAD_BYTES, JSON_OR_MULTIPART, ApiView


class SearchView(ApiView):
    parser_classes = JSON_OR_MULTIPART
    required_scope = "search"
    read_scope = "search"

    def body_limit(self) -> int:
        # The photo as base64 in JSON (4/3 of its bytes), plus the other fields.
        return search_setting("SEARCH_QUERY_IMAGE_MAX_BYTES") * 4 // 3 + FORM_OVERHEAD_BYTES

    @extend_schema(
        tags=["search"],
        summary="Search by text and/or photo",
        request={"application/json": SearchQuerySerializer, "multipart/form-data": SearchPhotoUploadSerializer},
        responses=SearchResponseSerializer,
    )
    def post(self, request: Request) -> Response:
        serializer = SearchRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        filters = SearchFilters(**data.get("filters", {}))
        search = ApiSearch(
            data["text"], data.get("image"), filters, data["limit"], data.get("cursor", ""), api_search_owner(request)
        )
        try:
            result, next_cursor = search_run(search)
        except SearchError as exc:
            raise ValidationError({"non_field_errors": [str(exc)]}) from exc
        body = {
            "results": result.hits,
            "next_cursor": next_cursor,
            "close_match": result.close_match,
            "fallback": result.fallback,
            "model": result.model_name,
            "corrected_text": result.corrected_text,
            "suggested_categories": result.suggested_categories,
            "alternatives": result.alternatives,
        }
        return Response(SearchResponseSerializer(body, context={"request": request}).data)


class ProductSimilarView(ApiView):
    required_scope = "search"
    read_scope = "search"

    @extend_schema(
        tags=["search"], summary="Products that look like this one", parameters=[SimilarParamsSerializer],
        responses=SimilarResponseSerializer,
    )  # fmt: skip
    def get(self, request: Request, pk: int) -> Response:
        params = SimilarParamsSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        product = Product.objects.filter(pk=pk, is_active=True).first()
        if product is None:
            raise NotFound(f"There is no active product with id {pk}.")
        hits = products_similar(product, limit=params.validated_data["limit"])
        return Response(SimilarResponseSerializer({"results": hits}, context={"request": request}).data)
