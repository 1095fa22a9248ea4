"""The merchant's view of the index: status on products and images, actions, and an index page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from kombu.exceptions import OperationalError

from catalog.admin import ProductAdmin, ProductImageInline
from catalog.models import Product, ProductImage
from search.embedders.base import EmbedderLoadError
from search.models import EmbeddingModel, EmbeddingStatus, ImageEmbedding, NoMatchCalibration, ProductEmbedding
from search.selectors import index_status
from search.services.index_queue import embeddings_queue_again, models_wanted, products_reembed
from search.services.model_switch import ModelSwitchError, embedding_model_activate
from search.services.no_match import KIND_THRESHOLD_SHARE, shop_photos_decide
from search.services.tuning import tuning_blocked
from search.tasks import embeddings_process_enqueue, model_tune_enqueue, no_match_calibrate_enqueue

BADGE_COLOURS = {"ready": "#1e7e34", "pending": "#8a6d00", "processing": "#1f5fbf", "failed": "#b02a37"}


def status_badge(status: str, error: str = "") -> str:
    return format_html(
        '<span title="{}" style="color:#fff;background:{};padding:1px 6px;border-radius:8px;font-size:11px">{}</span>',
        error, BADGE_COLOURS.get(status, "#666"), status,
    )  # fmt: skip


def rows_summary_status(rows: list[ImageEmbedding | ProductEmbedding]) -> tuple[str, str]:
    """One status for several rows: failed beats processing beats pending beats ready."""
    if not rows:
        return "missing", ""
    for status in ("failed", "processing", "pending"):
        for row in rows:
            if row.status == status:
                return status, row.error
    return "ready", ""


class IndexStatusFilter(admin.SimpleListFilter):
    title = "index status"
    parameter_name = "index_status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(s, label) for s, label in EmbeddingStatus.choices] + [("missing", "Missing")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Product]) -> QuerySet[Product]:
        value = self.value()
        if not value:
            return queryset
        wanted = models_wanted()
        images = ImageEmbedding.objects.filter(product=OuterRef("pk"), model__in=wanted)
        texts = ProductEmbedding.objects.filter(product=OuterRef("pk"), model__in=wanted)
        if value == "missing":
            image_rows = ImageEmbedding.objects.filter(image=OuterRef("pk"), model__in=wanted)
            images_without = ProductImage.objects.filter(product=OuterRef("pk")).exclude(Exists(image_rows))
            return queryset.filter(Exists(images_without) | ~Exists(texts))
        return queryset.filter(Exists(images.filter(status=value)) | Exists(texts.filter(status=value)))


class SearchProductImageInline(ProductImageInline):
    fields = [*ProductImageInline.fields, "index_status"]
    readonly_fields = [*ProductImageInline.readonly_fields, "index_status"]

    @admin.display(description="Index")
    def index_status(self, obj: ProductImage) -> str:
        if not obj.pk:
            return "—"
        rows: list[ImageEmbedding | ProductEmbedding] = list(obj.embeddings.filter(model__in=models_wanted()))
        status, error = rows_summary_status(rows)
        return format_html("{} {}", status_badge(status, error), error[:200])


class SearchProductAdmin(ProductAdmin):
    list_display = [*ProductAdmin.list_display, "index_badge"]
    list_filter = [*ProductAdmin.list_filter, IndexStatusFilter]
    inlines = [SearchProductImageInline]
    actions = ["reembed_selected", "embed_missing_and_failed"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Product]:
        # Only the rows of wanted models, without their vectors, so the badge needs no query per row.
        wanted = models_wanted()
        fields = ("id", "product_id", "model_id", "status", "error")
        return (
            super()
            .get_queryset(request)
            .prefetch_related(
                Prefetch("image_embeddings", ImageEmbedding.objects.filter(model__in=wanted).only(*fields)),
                Prefetch("text_embeddings", ProductEmbedding.objects.filter(model__in=wanted).only(*fields)),
            )
        )

    @admin.display(description="Index")
    def index_badge(self, obj: Product) -> str:
        rows: list[ImageEmbedding | ProductEmbedding] = [*obj.image_embeddings.all(), *obj.text_embeddings.all()]
        return status_badge(*rows_summary_status(rows))

    @admin.action(description="Re-embed selected products")
    def reembed_selected(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        count = products_reembed(list(queryset.values_list("pk", flat=True)))
        embeddings_process_enqueue()
        self.message_user(request, f"{count} items queued for embedding.", messages.SUCCESS)

    @admin.action(description="Embed missing and failed (whole catalog)")
    def embed_missing_and_failed(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        count = embeddings_queue_again(statuses=[EmbeddingStatus.FAILED])
        embeddings_process_enqueue()
        self.message_user(request, f"{count} items queued for embedding.", messages.SUCCESS)


admin.site.unregister(Product)
admin.site.register(Product, SearchProductAdmin)


@admin.register(EmbeddingModel)
class EmbeddingModelAdmin(admin.ModelAdmin):
    """The index page: the model list plus counts, queue depth, throughput and recent errors."""

    list_display = [
        "name", "status", "model_id", "image_dim", "text_dim", "shared_space", "activated_at", "no_match_threshold",
    ]  # fmt: skip
    readonly_fields = [*(f.name for f in EmbeddingModel._meta.fields), "no_match_details"]
    change_list_template = "admin/search/embeddingmodel/change_list.html"
    actions = ["recalibrate_no_match", "tune_to_shop"]
    list_select_related = ["no_match_calibration"]

    @admin.display(description="No-match threshold")
    def no_match_threshold(self, obj: EmbeddingModel) -> str:
        calibration = _calibration(obj)
        if calibration is None:
            return "not calibrated"
        if calibration.match_threshold is None:
            return f"too few photos ({calibration.copies + calibration.shop_photos})"
        return f"{calibration.match_threshold:.3f} ({_space(calibration.match_space)})"

    @admin.display(description="No-match calibration")
    def no_match_details(self, obj: EmbeddingModel) -> str:
        calibration = _calibration(obj)
        if calibration is None:
            return "Not calibrated yet: no photo search is flagged as 'no exact match'."
        threshold = "none (too few photos)"
        if calibration.match_threshold is not None:
            threshold = f"{calibration.match_threshold:.4f} ({_space(calibration.match_space)})"
        search_threshold = "-" if calibration.threshold is None else f"{calibration.threshold:.4f}"
        source = "the shop photos alone" if shop_photos_decide(calibration.shop_photos) else "copies and shop photos"
        kinds = "none (the model names no kinds, too few photos, or no product texts yet)"
        if calibration.kind_space and shop_photos_decide(calibration.shop_photos):
            kinds = "off: the shop's own photos set the threshold"
        if calibration.kind_threshold is not None and calibration.kind_gate is not None:
            kinds = (
                f"a photo beyond match distance {calibration.kind_gate:.4f} is also flagged when its kind score "
                f"({calibration.kind_space}) is under {calibration.kind_threshold:.4f}, which keeps "
                f"{(1 - KIND_THRESHOLD_SHARE) * 100:g}% of the sampled catalog and shop photos; their kind scores by "
                f"quantile: {_quantiles_text(calibration.kind_quantiles)}"
            )
        return format_html(
            "Threshold {} keeps {} of real matches ({}). Calibrated {} in {} s on {} shopper-like copies and {} "
            "shop photos ({} images of {} products then), {} negative pairs.<br>Positives by quantile, as the flag "
            "measures them (the best matches' distance in {}): {}<br>In search distance: best match in the "
            "catalog {} (threshold {}); against their own product {}<br>Negatives (random pairs of products) by "
            "quantile: {}<br>Kind check: {}",
            threshold, f"{calibration.keep_share * 100:g}%", source,
            calibration.calibrated_at.strftime("%Y-%m-%d %H:%M UTC"), calibration.seconds, calibration.copies,
            calibration.shop_photos, calibration.catalog_images,
            calibration.catalog_products, calibration.negative_pairs, _space(calibration.match_space),
            _quantiles_text(calibration.match_quantiles), _quantiles_text(calibration.positive_quantiles),
            search_threshold, _quantiles_text(calibration.own_product_quantiles),
            _quantiles_text(calibration.negative_quantiles), kinds,
        )  # fmt: skip

    @admin.action(description="Recalibrate 'no exact match' (in the background)")
    def recalibrate_no_match(self, request: HttpRequest, queryset: QuerySet[EmbeddingModel]) -> None:
        active = [model for model in queryset if model.status == EmbeddingModel.Status.ACTIVE]
        for model in active:
            no_match_calibrate_enqueue(model.pk, force=True)
        skipped = "" if len(active) == queryset.count() else " Only the active model is calibrated."
        self.message_user(request, f"{len(active)} calibration(s) queued.{skipped}", messages.SUCCESS)

    @admin.action(
        description="Tune to the shop: learn an adapter from its photos (in the background)", permissions=["change"]
    )
    def tune_to_shop(self, request: HttpRequest, queryset: QuerySet[EmbeddingModel]) -> None:
        models = list(queryset)
        if len(models) != 1 or models[0].status != EmbeddingModel.Status.ACTIVE:
            self.message_user(request, "Select the active model (only it) to tune.", messages.ERROR)
            return
        problem = tuning_blocked(models[0])
        if problem:
            self.message_user(request, problem, messages.ERROR)
            return
        try:
            model_tune_enqueue(models[0].pk)
        except (OperationalError, OSError) as exc:
            self.message_user(request, f"The task queue is unavailable ({exc}); try again later.", messages.ERROR)
            return
        self.message_user(
            request,
            f"Tuning {models[0].name} in the background. The tuned model appears here while it builds; it replaces "
            "the active model only when its self-test is better (on shop photos held out of its training when the "
            "shop has enough), otherwise it waits for you to activate it.",
            messages.SUCCESS,
        )

    def get_urls(self) -> list[URLPattern]:
        activate = self.admin_site.admin_view(self.activate_view)
        return [path("<int:pk>/activate/", activate, name="search_embeddingmodel_activate"), *super().get_urls()]

    def activate_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """POST: the merchant activates a built candidate that waits (its gate found it no better);
        its HNSW indexes were built before it waited, so it takes over at once."""
        if request.method != "POST" or not self.has_change_permission(request):
            raise PermissionDenied
        model = EmbeddingModel.objects.filter(pk=pk).first()
        back = reverse("admin:search_embeddingmodel_changelist")
        if model is None or model.status != EmbeddingModel.Status.WAITING:
            self.message_user(
                request, "Only a built model waiting for activation can be activated here.", messages.ERROR
            )
            return HttpResponseRedirect(back)
        try:
            embedding_model_activate(model.name, note="Activated by the merchant.")
        except (ModelSwitchError, EmbedderLoadError) as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(back)
        embeddings_process_enqueue()
        self.message_user(request, f"Activating {model.name}.", messages.SUCCESS)
        return HttpResponseRedirect(back)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "index": index_status()}
        return super().changelist_view(request, extra_context)


def _calibration(model: EmbeddingModel) -> NoMatchCalibration | None:
    try:
        return model.no_match_calibration
    except NoMatchCalibration.DoesNotExist:
        return None


def _space(match_space: str) -> str:
    return match_space or "search distance"


def _quantiles_text(quantiles: dict[str, float]) -> str:
    return ", ".join(f"{float(q):.0%}: {value:.3f}" for q, value in quantiles.items()) or "-"
