"""One error shape for the whole API: ``{"error": {"code", "message", "details"}}``.

``api_exception_handler`` serves DRF views; ``handler400/403/404/500`` serve Django's own errors
(unknown URLs, oversized bodies) and answer JSON under the API's paths, HTML elsewhere.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)

API_PATH_PREFIX = "/api/"

CODES_BY_STATUS = {
    400: "invalid_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "request_too_large",
    415: "unsupported_media_type",
    429: "throttled",
    500: "server_error",
}


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(_django_validation_details(exc))
    elif isinstance(exc, IntegrityError):
        # Two requests wrote the same unique value at once (one SKU created twice): the loser's
        # insert waited for the winner's commit and was refused. Its transaction is rolled back.
        logger.info("conflicting write in %s: %s", context.get("view").__class__.__name__, exc)
        exc = Conflict("Another request changed the same record at the same time (e.g. created this SKU); retry.")
    elif isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError(str(exc) or "The request could not be read.")
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("unhandled error in %s", context.get("view").__class__.__name__, exc_info=exc)
        return Response(error_body("server_error", "Something went wrong on our side."), status=500)
    response.data = _shape(exc, response.status_code)
    return response


def _shape(exc: Exception, status_code: int) -> dict[str, Any]:
    if isinstance(exc, exceptions.ValidationError):
        return error_body("validation_error", "The request has invalid fields.", exc.detail)
    if isinstance(exc, exceptions.APIException):
        detail = exc.detail
        code = _code_of(exc, status_code)
        message = str(detail) if not isinstance(detail, dict | list) else exc.default_detail
        details: Any = detail if isinstance(detail, dict | list) else None
        wait = getattr(exc, "wait", None)
        if isinstance(exc, exceptions.Throttled) and wait is not None:
            details = {"retry_after_seconds": int(wait)}
        return error_body(code, str(message), details)
    return error_body(CODES_BY_STATUS.get(status_code, "error"), str(exc))


def _code_of(exc: exceptions.APIException, status_code: int) -> str:
    if not type(exc).__module__.startswith("rest_framework."):
        return str(exc.default_code)  # our own exceptions name their code
    if isinstance(exc, exceptions.NotAuthenticated):
        return "not_authenticated"
    if isinstance(exc, exceptions.AuthenticationFailed):
        return "authentication_failed"
    if isinstance(exc, exceptions.ParseError):
        return "parse_error"
    return CODES_BY_STATUS.get(status_code, str(exc.default_code))


def _django_validation_details(exc: DjangoValidationError) -> Any:
    if hasattr(exc, "error_dict"):
        return {name: messages for name, messages in exc.message_dict.items()}
    return {"non_field_errors": exc.messages}


# --- Django's own error views ---------------------------------------------------------------


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PATH_PREFIX)


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        message = str(exception) if isinstance(exception, SuspiciousOperation) and str(exception) else "Bad request."
        return JsonResponse(error_body("invalid_request", message), status=400)
    return defaults.bad_request(request, exception)  # type: ignore[arg-type]


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body("permission_denied", "You may not do this."), status=403)
    return defaults.permission_denied(request, exception)  # type: ignore[arg-type]


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body("not_found", f"There is nothing at {request.path_info}."), status=404)
    return defaults.page_not_found(request, exception)  # type: ignore[arg-type]


def handler500(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body("server_error", "Something went wrong on our side."), status=500)
    return defaults.server_error(request)
