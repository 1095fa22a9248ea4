from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from catalog.conf import catalog_setting
from catalog.image_intake import ImageRejected
from catalog.models import Category, Product, ProductImage
from catalog.services import category_get_or_create_path, product_image_add
from storeapi.models import ImageFetch
from storeapi.pagination import IdCursorPagination, UpdatedAtCursorPagination
from storeapi.selectors import ProductListFilters, product_get, product_list
from storeapi.serializers.products import (
    BulkUpsertRequestSerializer,
    BulkUpsertResponseSerializer,
    CategoryCreateSerializer,
    CategorySerializer,
    ImageFetchSerializer,
    ImageFileUploadSerializer,
    ImageUploadSerializer,
    ImageUrlUploadSerializer,
    ProductImageSerializer,
    ProductListFilterSerializer,
    ProductSerializer,
    ProductUpsertResultSerializer,
    ProductWriteSerializer,
)
from storeapi.services.image_fetches import image_fetch_queue
from storeapi.services.products import (
    bulk_summary,
    product_create,
    product_delete,
    product_image_delete,
    product_save,
    products_bulk_upsert,
)
from storeapi.views.base import FORM_OVERHEAD_BYTES, JSON_OR_MULTIPART, ApiGenericView, ApiView

TAG_PRODUCTS = ["products"]


def _product_or_404(product_id: int) -> Product:
    product = product_get(product_id)
    if product is None:
        raise NotFound(f"There is no product with id {product_id}.")
    return product


class ProductListView(ApiGenericView):
    pagination_class = UpdatedAtCursorPagination
    serializer_class = ProductSerializer

    @extend_schema(
        tags=TAG_PRODUCTS,
        operation_id="products_list",
        parameters=[ProductListFilterSerializer],
        summary="List products (cursor pages in updated_at order)",
        responses=ProductSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        params = ProductListFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        skus = tuple(sku.strip() for sku in data.get("sku", "").split(",") if sku.strip())
        filters = ProductListFilters(
            updated_after=data.get("updated_after"), updated_before=data.get("updated_before"), skus=skus,
            category=data.get("category"), brand=data.get("brand", ""), is_active=data.get("is_active"),
            in_stock=data.get("in_stock"), q=data.get("q", ""),
        )  # fmt: skip
        page = self.paginate_queryset(product_list(filters)) or []
        return self.get_paginated_response(ProductSerializer(page, many=True, context={"request": request}).data)

    @extend_schema(
        tags=TAG_PRODUCTS,
        summary="Create a product",
        request=ProductWriteSerializer,
        responses={201: ProductSerializer, 409: OpenApiResponse(description="The SKU exists.")},
    )
    def post(self, request: Request) -> Response:
        serializer = ProductWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        product, _ = product_create(data=serializer.validated_data)
        return Response(_product_data(product, request), status=status.HTTP_201_CREATED)


def _product_data(product: Product, request: Request) -> dict[str, Any]:
    # Loaded again, with images and category as in lists (404 if it was deleted meanwhile).
    return _product_json(_product_or_404(product.pk), request)


def _product_json(product: Product, request: Request) -> dict[str, Any]:
    return ProductSerializer(product, context={"request": request}).data


class ProductDetailView(ApiView):
    @extend_schema(tags=TAG_PRODUCTS, summary="Get a product", responses=ProductSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(_product_json(_product_or_404(pk), request))

    @extend_schema(
        tags=TAG_PRODUCTS,
        summary="Update a product",
        request=ProductWriteSerializer(partial=True),
        responses=ProductSerializer,
    )
    def patch(self, request: Request, pk: int) -> Response:
        product = _product_or_404(pk)
        serializer = ProductWriteSerializer(data=request.data, partial=True, context={"product": product})
        serializer.is_valid(raise_exception=True)
        product, _, _ = product_save(data=serializer.validated_data, product=product)
        return Response(_product_data(product, request))

    @extend_schema(tags=TAG_PRODUCTS, summary="Delete a product", responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        product_delete(product=_product_or_404(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProductUpsertView(ApiView):
    @extend_schema(
        tags=TAG_PRODUCTS,
        summary="Create or update the product with this SKU",
        request=ProductWriteSerializer,
        responses={200: ProductUpsertResultSerializer, 201: ProductUpsertResultSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = ProductWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        product, result, queued = product_save(data=serializer.validated_data)
        body = {"result": result.value, "images_queued": queued, "product": _product_data(product, request)}
        return Response(body, status=status.HTTP_201_CREATED if result.value == "created" else status.HTTP_200_OK)


class ProductBulkUpsertView(ApiView):
    @extend_schema(
        tags=TAG_PRODUCTS,
        summary="Upsert up to 1,000 products by SKU",
        request=BulkUpsertRequestSerializer,
        responses=BulkUpsertResponseSerializer,
    )
    def post(self, request: Request) -> Response:
        serializer = BulkUpsertRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        writes = products_bulk_upsert(records=serializer.validated_data["products"])
        results = [
            {
                "index": index,
                "sku": write.outcome.sku,
                "status": write.outcome.result.value if write.outcome.result else "failed",
                "id": write.outcome.product.pk if write.outcome.product else None,
                "error": write.outcome.reason or None,
                "images_queued": write.images_queued,
            }
            for index, write in enumerate(writes)
        ]
        return Response({"summary": bulk_summary(writes), "results": results})


class ProductImageListView(ApiView):
    parser_classes = JSON_OR_MULTIPART

    def body_limit(self) -> int:
        return catalog_setting("IMAGE_MAX_BYTES") + FORM_OVERHEAD_BYTES

    @extend_schema(
        tags=TAG_PRODUCTS,
        summary="List a product's images, the search-only shop photos included (flagged search_only)",
        responses=ProductImageSerializer(many=True),
    )
    def get(self, request: Request, pk: int) -> Response:
        product = _product_or_404(pk)
        return Response(ProductImageSerializer(product.images.all(), many=True, context={"request": request}).data)

    @extend_schema(
        tags=TAG_PRODUCTS,
        summary="Add an image: upload a file, or give an image_url for a worker to fetch",
        request={"multipart/form-data": ImageFileUploadSerializer, "application/json": ImageUrlUploadSerializer},
        responses={
            201: ProductImageSerializer,
            200: ProductImageSerializer,
            202: OpenApiResponse(ImageFetchSerializer, description="The URL is queued (or already known)."),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        product = _product_or_404(pk)
        serializer = ImageUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data.get("image_url"):
            return self._queue(product, data)
        try:
            image, created = product_image_add(
                product=product,
                data=_read_upload(data["file"]),
                alt_text=data["alt_text"],
                position=data.get("position"),
                search_only=data.get("search_only"),
            )
        except ImageRejected as exc:
            raise ValidationError({"file": [str(exc)]}) from exc
        body = ProductImageSerializer(image, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    def _queue(self, product: Product, data: dict[str, Any]) -> Response:
        fetch = image_fetch_queue(
            product=product,
            url=data["image_url"],
            alt_text=data["alt_text"],
            position=data.get("position"),
            search_only=data.get("search_only"),
        )
        if fetch is None:  # already an image of the product, or already queued
            fetch = ImageFetch.objects.filter(product=product, url=data["image_url"]).order_by("-id").first()
        body = ImageFetchSerializer(fetch).data if fetch else {"status": "done", "url": data["image_url"]}
        return Response(body, status=status.HTTP_202_ACCEPTED)


def _read_upload(upload: Any) -> bytes:
    limit = catalog_setting("IMAGE_MAX_BYTES")
    if upload.size > limit:
        raise ValidationError({"file": [f"The file is larger than the limit of {limit:,} bytes."]})
    return upload.read()


class ProductImageDetailView(ApiView):
    @extend_schema(tags=TAG_PRODUCTS, summary="Delete a product image", responses={204: None})
    def delete(self, request: Request, pk: int, image_pk: int) -> Response:
        image = ProductImage.objects.filter(product_id=pk, pk=image_pk).first()
        if image is None:
            raise NotFound("The product has no image with this id.")
        product_image_delete(image=image)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ImageFetchDetailView(ApiView):
    @extend_schema(tags=TAG_PRODUCTS, summary="The state of a queued image URL", responses=ImageFetchSerializer)
    def get(self, request: Request, pk: int) -> Response:
        fetch = ImageFetch.objects.filter(pk=pk).first()
        if fetch is None:
            raise NotFound(f"There is no image fetch with id {pk}.")
        return Response(ImageFetchSerializer(fetch).data)


class CategoryListView(ApiGenericView):
    pagination_class = IdCursorPagination
    serializer_class = CategorySerializer
    read_scope = "search"  # the widget and store pages may list categories for filters

    @extend_schema(
        tags=["categories"], operation_id="categories_list", summary="List categories",
        responses=CategorySerializer(many=True),
    )  # fmt: skip
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(Category.objects.select_related("parent__parent__parent").order_by("id"))
        return self.get_paginated_response(CategorySerializer(page, many=True).data)

    @extend_schema(
        tags=["categories"],
        summary="Create a category path (missing levels are created)",
        request=CategoryCreateSerializer,
        responses={201: CategorySerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = CategoryCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        category = category_get_or_create_path(serializer.validated_data["path"])
        if category is None:
            raise ValidationError({"path": ["Give at least one category name."]})
        return Response(CategorySerializer(category).data, status=status.HTTP_201_CREATED)


class CategoryDetailView(ApiView):
    read_scope = "search"

    @extend_schema(tags=["categories"], summary="Get a category", responses=CategorySerializer)
    def get(self, request: Request, pk: int) -> Response:
        category = Category.objects.filter(pk=pk).first()
        if category is None:
            raise NotFound(f"There is no category with id {pk}.")
        return Response(CategorySerializer(category).data)
