"""Cache upkeep for API keys."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from storeapi.models import ApiKey
from storeapi.services.api_keys import api_key_forget


@receiver([post_save, post_delete], sender=ApiKey, dispatch_uid="storeapi.api_key_changed")
def api_key_changed(sender: type[ApiKey], instance: ApiKey, **kwargs: Any) -> None:
    """A revoked, edited or deleted key is looked up again on its next request, in every process."""
    api_key_forget(instance)
