"""API keys in the admin: the key is made on save and shown once, on a page of its own."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from storeapi.models import ApiKey, ImageFetch, WebhookDelivery
from storeapi.services.api_keys import api_key_new_secret, api_key_set_secret


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "prefix", "is_active", "allowed_origins", "throttle_rate", "last_used_at"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    fields = ["name", "kind", "allowed_origins", "throttle_rate", "is_active", "prefix", "created_at", "last_used_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        # The kind decides the key's prefix and power: a different kind needs a new key.
        return [*self.readonly_fields, "kind"] if obj is not None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if not change:
            key = api_key_new_secret(obj.kind)
            api_key_set_secret(obj, key)
            request._snapshelf_new_key = key  # type: ignore[attr-defined]
        obj.allowed_origins = [origin.rstrip("/") for origin in obj.allowed_origins]
        super().save_model(request, obj, form, change)

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None) -> HttpResponse:
        # Shown in this response only (never in a message: messages may be stored in a cookie).
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "api_key": obj,
            "key": request._snapshelf_new_key,  # type: ignore[attr-defined]
            "title": "API key created",
        }
        return TemplateResponse(request, "admin/storeapi/apikey/created.html", context)


@admin.register(ImageFetch)
class ImageFetchAdmin(admin.ModelAdmin):
    list_display = ["url", "product", "status", "error", "updated_at"]
    list_filter = ["status"]
    search_fields = ["url", "product__sku"]
    raw_id_fields = ["product", "image"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["platform", "topic", "delivery_id", "received_at"]
    list_filter = ["platform", "topic"]
    search_fields = ["delivery_id"]
