from django.apps import AppConfig


class StoreApiConfig(AppConfig):
    name = "storeapi"
    verbose_name = "Store API"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # CORS origin check for public keys; OpenAPI extensions; the check that the project merged
        # the schema settings.
        from storeapi import checks, cors, schema  # noqa: F401
