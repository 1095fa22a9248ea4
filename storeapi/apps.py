from django.apps import AppConfig


class StoreApiConfig(AppConfig):
    name = "storeapi"
    verbose_name = "Store API"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from storeapi import cors, schema  # noqa: F401 - CORS origin check for public keys; OpenAPI extensions
