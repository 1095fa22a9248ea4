"""What each kind of caller may do. Views say which scope they need: search, read or write."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from storeapi.conf import api_setting
from storeapi.models import ApiKey

# Staff sessions get the scopes their Django permissions give: any staff member may search; reading
# the catalog needs "view product"; changing it needs "add", "change" and "delete product"
# (superusers have every permission).
PERMISSIONS_BY_SCOPE = {
    "search": (),
    "read": ("catalog.view_product",),
    "write": ("catalog.add_product", "catalog.change_product", "catalog.delete_product"),
}
SCOPES_BY_KIND = {
    ApiKey.Kind.PUBLIC: {"search"},
    ApiKey.Kind.READ: {"search", "read"},
    ApiKey.Kind.WRITE: {"search", "read", "write"},
}


class HasScope(BasePermission):
    """Grants the view's ``required_scope`` (for safe methods ``read_scope``, when the view sets one)."""

    message = "This key may not do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        scope = view.required_scope
        if request.method in ("GET", "HEAD", "OPTIONS") and getattr(view, "read_scope", None):
            scope = view.read_scope
        if scope == "none":
            return True
        if isinstance(request.auth, ApiKey):
            return scope in SCOPES_BY_KIND[ApiKey.Kind(request.auth.kind)]
        if request.user and request.user.is_authenticated and request.user.is_staff:
            return request.user.has_perms(PERMISSIONS_BY_SCOPE[scope])
        return scope == "search" and bool(api_setting("API_ANONYMOUS_SEARCH"))
