from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from search.selectors import index_status
from storeapi.serializers.search import IndexStatusSerializer
from storeapi.views.base import ApiView


class IndexStatusView(ApiView):
    @extend_schema(
        tags=["search"],
        summary="The search index: active model and row counts per status",
        responses=IndexStatusSerializer,
    )
    def get(self, request: Request) -> Response:
        return Response(IndexStatusSerializer(index_status(error_limit=0)).data)
