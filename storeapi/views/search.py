from __future__ import annotations

import time

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from catalog.models import Product
from search.conf import search_setting
from search.events import result_announce, search_announce, similar_announce
from search.services.product_search import SearchError, SearchFilters, products_similar
from storeapi.serializers.search import (
    ResultOpenedSerializer,
    SearchPhotoUploadSerializer,
    SearchQuerySerializer,
    SearchRequestSerializer,
    SearchResponseSerializer,
    SimilarParamsSerializer,
    SimilarResponseSerializer,
)
from storeapi.services.search import ApiSearch, api_search_owner, search_id_read, search_id_sign, search_run
from storeapi.views.base import FORM_OVERHEAD_BYTES, JSON_OR_MULTIPART, ApiView

CHANNEL_PARAMETER = OpenApiParameter(
    "channel", str, enum=["api", "widget"], required=False,
    description="Who asks, for the shop's search statistics: 'api' (default) or 'widget' (the search widget).",
)  # fmt: skip


def _channel(request: Request) -> str:
    channel = request.query_params.get("channel", "api")
    if channel not in ("api", "widget"):
        raise ValidationError({"channel": ["channel must be 'api' or 'widget'."]})
    return channel


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
        parameters=[CHANNEL_PARAMETER],
    )
    def post(self, request: Request) -> Response:
        started, channel = time.perf_counter(), _channel(request)
        serializer = SearchRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        filters = SearchFilters(**data.get("filters", {}))
        search = ApiSearch(
            data["text"], data.get("image"), filters, data["limit"], data.get("cursor", ""), api_search_owner(request)
        )
        try:
            query, result, next_cursor = search_run(search)
        except SearchError as exc:
            raise ValidationError({"non_field_errors": [str(exc)]}) from exc
        search_id = search_announce(request, channel=channel, query=query, result=result, started=started)
        body = {
            "results": result.hits,
            "next_cursor": next_cursor,
            "close_match": result.close_match,
            "fallback": result.fallback,
            "model": result.model_name,
            "corrected_text": result.corrected_text,
            "suggested_categories": result.suggested_categories,
            "alternatives": result.alternatives,
            "search_id": search_id_sign(search_id),
        }
        return Response(SearchResponseSerializer(body, context={"request": request}).data)


class ResultOpenedView(ApiView):
    """A shopper opened a search result (the widget sends it as a beacon). No key: beacons cannot
    send headers; the signed search_id shows the report belongs to a real answer."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = ()
    parser_classes = JSON_OR_MULTIPART

    @extend_schema(
        tags=["search"], summary="Report an opened search result", request=ResultOpenedSerializer,
        responses={204: None}, auth=[],
    )  # fmt: skip
    def post(self, request: Request) -> Response:
        serializer = ResultOpenedSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result_announce(search_id=search_id_read(data["search_id"]), rank=data["rank"], product_id=data["product"])
        return Response(status=204)


class ProductSimilarView(ApiView):
    required_scope = "search"
    read_scope = "search"

    @extend_schema(
        tags=["search"], summary="Products that look like this one", parameters=[SimilarParamsSerializer],
        responses=SimilarResponseSerializer,
    )  # fmt: skip
    def get(self, request: Request, pk: int) -> Response:
        started = time.perf_counter()
        params = SimilarParamsSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        product = Product.objects.filter(pk=pk, is_active=True).first()
        if product is None:
            raise NotFound(f"There is no active product with id {pk}.")
        hits = products_similar(product, limit=params.validated_data["limit"])
        similar_announce(request, channel="api", product_id=pk, hits=hits, started=started)
        return Response(SimilarResponseSerializer({"results": hits}, context={"request": request}).data)
