"""A project that serves the API but did not merge storeapi's schema settings gets a warning: its
schema would lack the error responses and the split request bodies that clients are generated from."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

ERRORS_HOOK = "storeapi.schema.error_responses_add"


@checks.register()
def spectacular_settings_merged(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    project = getattr(settings, "SPECTACULAR_SETTINGS", {})
    missing = []
    if project.get("COMPONENT_SPLIT_REQUEST") is not True:
        missing.append("COMPONENT_SPLIT_REQUEST")
    if ERRORS_HOOK not in project.get("POSTPROCESSING_HOOKS", []):
        missing.append(f"{ERRORS_HOOK} in POSTPROCESSING_HOOKS")
    if not missing:
        return []
    return [
        checks.Warning(
            f"SPECTACULAR_SETTINGS lacks storeapi's {' and '.join(missing)}.",
            hint="Merge storeapi's schema settings: SPECTACULAR_SETTINGS = {**storeapi.conf.SPECTACULAR_SETTINGS, "
            "...your own} (README: Using the apps in your own project).",
            id="storeapi.W001",
        )
    ]
