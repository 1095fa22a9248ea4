"""Webhook receivers. The signature is the authentication: no key, no session, no throttle."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from search.request_guards import client_ip
from storeapi.conf import api_setting
from storeapi.models import Platform
from storeapi.services.webhooks import WebhookEvent, WebhookRejected, webhook_handle, webhook_signature_valid
from storeapi.views.base import ApiView

logger = logging.getLogger(__name__)

WebhookResultSerializer = inline_serializer(
    "WebhookResult",
    {
        "status": serializers.CharField(
            help_text="created, updated, unchanged, deleted, duplicate, stale, ignored or rejected"
        ),
        "reason": serializers.CharField(required=False),
    },
)


class BadSignature(exceptions.APIException):
    status_code = 401
    default_detail = "The webhook signature is missing or wrong."
    default_code = "bad_signature"


class WebhookView(ApiView):
    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = ()
    parser_classes = ()  # the raw body is what is signed
    platform = ""
    signature_header = ""
    topic_header = ""
    delivery_header = ""
    actions: dict[str, str] = {}

    def post(self, request: Request) -> Response:
        body = request.body
        topic = request.headers.get(self.topic_header, "")
        if not topic and body.startswith(b"webhook_id="):
            return Response({"status": "ignored", "reason": "ping"})  # WooCommerce's test delivery
        signature = request.headers.get(self.signature_header, "")
        if not webhook_signature_valid(platform=self.platform, body=body, signature=signature):
            logger.warning(
                "rejected a %s webhook (topic %r) from %s: %s signature",
                self.platform, topic, client_ip(request), "bad" if signature else "no",
            )  # fmt: skip
            raise BadSignature()
        action = self.actions.get(topic)
        if action is None:
            return Response({"status": "ignored", "reason": f"topic {topic!r} is not handled"})
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return self._rejected(topic, "the body is not a JSON object")
        event = WebhookEvent(
            platform=self.platform, action=action, topic=topic, payload=payload,
            delivery_id=request.headers.get(self.delivery_header, ""), shop_domain=self._shop_domain(request),
            sent_at=self._sent_at(request),
        )  # fmt: skip
        try:
            return Response({"status": webhook_handle(event)})
        except WebhookRejected as exc:
            return self._rejected(topic, str(exc))

    def _rejected(self, topic: str, reason: str) -> Response:
        # 200, not 4xx: a retry cannot fix the payload, and platforms drop webhooks that keep failing.
        logger.warning("a %s webhook (topic %r) could not be applied: %s", self.platform, topic, reason)
        return Response({"status": "rejected", "reason": reason})

    def _shop_domain(self, request: Request) -> str:
        return ""

    def _sent_at(self, request: Request) -> datetime | None:
        return None

    def body_limit(self) -> int:
        return int(api_setting("WEBHOOK_MAX_BYTES"))


def _webhook_schema(platform: str, headers: list[tuple[str, str]]) -> Any:
    return extend_schema(
        tags=["webhooks"],
        summary=f"{platform} product webhooks",
        request={"application/json": {"type": "object", "additionalProperties": True}},
        parameters=[OpenApiParameter(name, str, OpenApiParameter.HEADER, description=text) for name, text in headers],
        responses={200: WebhookResultSerializer},
        auth=[],
    )


class ShopifyWebhookView(WebhookView):
    platform = Platform.SHOPIFY
    signature_header = "X-Shopify-Hmac-Sha256"
    topic_header = "X-Shopify-Topic"
    delivery_header = "X-Shopify-Webhook-Id"
    actions = {"products/create": "upsert", "products/update": "upsert", "products/delete": "delete"}

    @_webhook_schema(
        "Shopify",
        [
            ("X-Shopify-Hmac-Sha256", "base64 HMAC-SHA256 of the body with the app's client secret"),
            ("X-Shopify-Topic", "products/create, products/update or products/delete"),
            ("X-Shopify-Webhook-Id", "the delivery id (redeliveries are skipped)"),
            ("X-Shopify-Shop-Domain", "the shop, for product URLs"),
        ],
    )
    def post(self, request: Request) -> Response:
        return super().post(request)

    def _sent_at(self, request: Request) -> datetime | None:
        sent = parse_datetime(request.headers.get("X-Shopify-Triggered-At", "").strip() or "x")
        return sent if sent is not None and sent.tzinfo is not None else None

    def _shop_domain(self, request: Request) -> str:
        domain = request.headers.get("X-Shopify-Shop-Domain", "").strip().lower()
        return domain if domain and all(c.isalnum() or c in ".-" for c in domain) else ""


class WooCommerceWebhookView(WebhookView):
    platform = Platform.WOOCOMMERCE
    signature_header = "X-WC-Webhook-Signature"
    topic_header = "X-WC-Webhook-Topic"
    delivery_header = "X-WC-Webhook-Delivery-ID"
    actions = {
        "product.created": "upsert",
        "product.updated": "upsert",
        "product.restored": "upsert",
        "product.deleted": "delete",
    }

    @_webhook_schema(
        "WooCommerce",
        [
            ("X-WC-Webhook-Signature", "base64 HMAC-SHA256 of the body with the webhook's secret"),
            ("X-WC-Webhook-Topic", "product.created, product.updated or product.deleted"),
            ("X-WC-Webhook-Delivery-ID", "the delivery id (redeliveries are skipped)"),
        ],
    )
    def post(self, request: Request) -> Response:
        return super().post(request)
