from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.models import Category, Product, ProductImage
from catalog.selectors import product_images
from catalog.thumbnails import THUMBNAIL_SIZES, image_thumbnail
from storeapi.models import ApiKey, ImageFetch
from storeapi.serializers.fields import (
    AttributesField,
    PriceField,
    QueryParamsSerializer,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
)

MAX_INT = 2_147_483_647


class CategorySerializer(serializers.ModelSerializer):
    path = StrictCharField(source="full_path", read_only=True)

    class Meta:
        model = Category
        fields = ["id", "name", "slug", "parent", "path"]
        read_only_fields = fields


class CategoryCreateSerializer(serializers.Serializer):
    path = StrictCharField(max_length=1000, help_text="Levels separated by ' > ', e.g. 'Apparel > Tops'.")


class ThumbnailSerializer(serializers.Serializer):
    url = serializers.URLField(read_only=True)
    width = serializers.IntegerField(read_only=True, help_text="Pixels.")
    height = serializers.IntegerField(read_only=True, help_text="Pixels.")


def _size_help(name: str, use: str) -> str:
    size = THUMBNAIL_SIZES[name]
    fit = "cropped to fill it" if size.crop else "whole, inside it"
    return f"{use}: {size.width}x{size.height} box, {fit}."


class ThumbnailsSerializer(serializers.Serializer):
    """The sizes the storefront shows, made by the indexing worker when the image is stored."""

    card = ThumbnailSerializer(read_only=True, help_text=_size_help("card", "Result and product cards"))
    detail = ThumbnailSerializer(read_only=True, help_text=_size_help("detail", "The product page"))


class ProductImageSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="The original image.")
    thumbnails = serializers.SerializerMethodField(
        help_text="The image in the storefront's sizes, made by the indexing worker. Until the worker has "
        "made them (seconds after an upload), each is the original image's url with the width and height "
        "it takes inside that size's box."
    )
    source_url = serializers.CharField(
        read_only=True, help_text="Where the image was fetched from, or ''; always '' for public keys."
    )

    class Meta:
        model = ProductImage
        fields = ["id", "url", "thumbnails", "position", "alt_text", "width", "height", "source_url", "search_only"]
        read_only_fields = fields
        extra_kwargs = {
            "search_only": {
                "help_text": "A shop photo used only by search, never shown. Only the image list of a "
                "product (read and write keys) has these; product and search images are the shown ones."
            }
        }

    @extend_schema_field(serializers.URLField())
    def get_url(self, image: ProductImage) -> str:
        return _absolute(self.context.get("request"), image.file.url)

    @extend_schema_field(ThumbnailsSerializer)
    def get_thumbnails(self, image: ProductImage) -> dict[str, dict[str, Any]]:
        thumbnails = {name: image_thumbnail(image, name) for name in THUMBNAIL_SIZES}
        request = self.context.get("request")
        return {
            name: {"url": _absolute(request, thumb.url), "width": thumb.width, "height": thumb.height}
            for name, thumb in thumbnails.items()
        }

    def to_representation(self, instance: ProductImage) -> dict[str, Any]:
        data = super().to_representation(instance)
        if not _may_see_sources(self.context.get("request")):
            # Where images were fetched from is the merchant's business (supplier URLs, internal
            # hosts): shown to read and write keys and staff, not to public keys or anonymous search.
            data["source_url"] = ""  # the field stays (the schema requires it), empty
        return data


def _absolute(request: Any, url: str) -> str:
    return request.build_absolute_uri(url) if request else url


def _may_see_sources(request: Any) -> bool:
    if request is None:
        return True  # not an answer to a client (the shell, tests)
    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiKey):
        return auth.kind != ApiKey.Kind.PUBLIC
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.is_staff)


class ProductSerializer(serializers.ModelSerializer):
    category = serializers.SerializerMethodField(help_text="The category path, e.g. 'Apparel > Tops'.")
    images = serializers.SerializerMethodField(help_text="The images shoppers see (never search-only photos).")
    price = serializers.DecimalField(max_digits=12, decimal_places=2, coerce_to_string=True)
    # Blank when unknown, so not a "uri" in the schema.
    url = serializers.CharField(read_only=True, help_text="The product's page in the store, or ''.")

    class Meta:
        model = Product
        fields = [
            "id", "sku", "title", "description", "brand", "category", "category_id", "price", "currency",
            "stock", "in_stock", "attributes", "url", "is_active", "images", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_category(self, product: Product) -> str:
        return product.category.full_path if product.category else ""

    @extend_schema_field(ProductImageSerializer(many=True))
    def get_images(self, product: Product) -> Any:
        return ProductImageSerializer(product_images(product), many=True, context=self.context).data


class ImageUrlSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=2000)
    alt_text = StrictCharField(max_length=300, required=False, allow_blank=True, default="")
    position = StrictIntegerField(min_value=0, max_value=MAX_INT, required=False)
    search_only = StrictBooleanField(
        required=False, help_text="A shop photo that helps search find the product and is never shown."
    )


class ProductWriteSerializer(serializers.Serializer):
    """The fields a client may send; on updates every field is optional and only given ones change."""

    sku = StrictCharField(max_length=100)
    title = StrictCharField(max_length=500)
    description = StrictCharField(required=False, allow_blank=True, max_length=100_000)
    brand = StrictCharField(required=False, allow_blank=True, max_length=200)
    category = StrictCharField(
        required=False, allow_blank=True, max_length=1000, help_text="A path such as 'Apparel > Tops'; created if new."
    )
    price = PriceField(required=False)
    currency = StrictCharField(
        required=False, validators=[RegexValidator(r"^[A-Z]{3}\Z", "Use a three-letter code such as EUR.")]
    )
    stock = StrictIntegerField(min_value=0, max_value=MAX_INT, required=False)
    in_stock = StrictBooleanField(required=False)
    attributes = AttributesField(required=False)
    url = serializers.URLField(max_length=1000, required=False, allow_blank=True)
    is_active = StrictBooleanField(required=False)
    images = ImageUrlSerializer(  # type: ignore[call-arg]  # many=True makes a ListSerializer, which takes max_length
        many=True, required=False, max_length=50, help_text="Image URLs, fetched by a worker."
    )

    def validate_sku(self, value: str) -> str:
        instance = self.context.get("product")
        if instance is not None and value.strip() != instance.sku:
            raise serializers.ValidationError("The SKU of a product cannot change.")
        return value.strip()

    def validate_category(self, value: str) -> str:
        names = [name.strip() for name in value.replace("/", ">").split(">") if name.strip()]
        if any(len(name) > 200 for name in names):
            raise serializers.ValidationError("Each category name must be at most 200 characters.")
        return value


class ProductUpsertResultSerializer(serializers.Serializer):
    result = serializers.ChoiceField(choices=["created", "updated", "unchanged"])
    images_queued = StrictIntegerField()
    product = ProductSerializer()


class BulkUpsertRequestSerializer(serializers.Serializer):
    products = serializers.ListField(
        child=serializers.JSONField(),
        min_length=1,
        help_text="Up to 1,000 products with the fields of a product write (images: a list of "
        "{url, alt_text} or of URLs). Each row is checked and upserted on its own.",
    )

    def validate_products(self, value: list[Any]) -> list[Any]:
        from storeapi.conf import api_setting

        limit = api_setting("API_BULK_MAX_PRODUCTS")
        if len(value) > limit:
            raise serializers.ValidationError(f"At most {limit} products per request; split the batch.")
        return value


class BulkRowResultSerializer(serializers.Serializer):
    index = StrictIntegerField(help_text="The row's position in the request, from 0.")
    sku = StrictCharField()
    status = serializers.ChoiceField(choices=["created", "updated", "unchanged", "failed"])
    id = StrictIntegerField(allow_null=True, help_text="The product's id (null when the row failed).")
    error = StrictCharField(allow_null=True, help_text="Why the row failed (null otherwise).")
    images_queued = StrictIntegerField()


class BulkSummarySerializer(serializers.Serializer):
    created = StrictIntegerField()
    updated = StrictIntegerField()
    unchanged = StrictIntegerField()
    failed = StrictIntegerField()
    images_queued = StrictIntegerField()


class BulkUpsertResponseSerializer(serializers.Serializer):
    summary = BulkSummarySerializer()
    results = BulkRowResultSerializer(many=True)


class ImageUploadSerializer(serializers.Serializer):
    """Either a file (multipart) or an image URL for a worker to fetch (JSON, or a form field as before 1.1)."""

    # Checked by catalog.image_intake (formats, byte and pixel caps), not by DRF's ImageField.
    file = serializers.FileField(required=False, help_text="The image (multipart/form-data): JPEG, PNG, WebP or GIF.")
    image_url = serializers.URLField(required=False, max_length=2000, help_text="Fetched by a worker.")
    alt_text = StrictCharField(max_length=300, required=False, allow_blank=True, default="")
    position = StrictIntegerField(min_value=0, max_value=MAX_INT, required=False)
    search_only = StrictBooleanField(
        required=False,
        help_text="A photo of the product as shoppers take them (in the shop, on a shelf): it helps search "
        "find the product and is never shown. Leave out to keep an existing image's setting (new: false).",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("file")) == bool(attrs.get("image_url")):
            raise serializers.ValidationError("Send either a file or an image_url.")
        return attrs


# The two bodies the schema documents for adding an image, one per content type, so that a client
# generator knows what to send (ImageUploadSerializer above, which the view runs, takes either).
class ImageFileUploadSerializer(ImageUploadSerializer):
    """multipart/form-data: the image file."""

    file = serializers.FileField(help_text="The image: JPEG, PNG, WebP or GIF.")
    image_url = None  # type: ignore[assignment]


class ImageUrlUploadSerializer(ImageUploadSerializer):
    """application/json: an image URL for a worker to fetch (202, then poll the image fetch)."""

    file = None  # type: ignore[assignment]
    image_url = serializers.URLField(max_length=2000, help_text="Fetched by a worker.")


class ImageFetchSerializer(serializers.ModelSerializer):
    class Meta:
        model = ImageFetch
        fields = [
            "id",
            "product",
            "url",
            "alt_text",
            "position",
            "search_only",
            "status",
            "error",
            "image",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ProductListFilterSerializer(QueryParamsSerializer):
    updated_after = serializers.DateTimeField(
        required=False, help_text="Only products changed after this time (incremental sync)."
    )
    updated_before = serializers.DateTimeField(
        required=False, help_text="Only products changed at or before this time."
    )
    sku = StrictCharField(required=False, max_length=10_000, help_text="One SKU or several, comma separated.")
    category = serializers.PrimaryKeyRelatedField(
        queryset=Category.objects.all(), required=False, help_text="A category id; includes its subcategories."
    )
    brand = StrictCharField(required=False, max_length=200)
    is_active = serializers.BooleanField(required=False, allow_null=True, default=None)
    in_stock = serializers.BooleanField(required=False, allow_null=True, default=None)
    q = StrictCharField(required=False, max_length=200, help_text="Words in the title or SKU.")
