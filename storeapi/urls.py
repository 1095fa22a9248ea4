"""The REST API. Include it at ``api/v1/`` (errors are JSON under ``/api/``; see storeapi.errors)."""

from django.urls import path

from storeapi.views import docs, index, products, search, webhooks

app_name = "storeapi"

urlpatterns = [
    path("products/", products.ProductListView.as_view(), name="product-list"),
    path("products/upsert/", products.ProductUpsertView.as_view(), name="product-upsert"),
    path("products/bulk/", products.ProductBulkUpsertView.as_view(), name="product-bulk"),
    path("products/<int:pk>/", products.ProductDetailView.as_view(), name="product-detail"),
    path("products/<int:pk>/images/", products.ProductImageListView.as_view(), name="product-images"),
    path("products/<int:pk>/images/<int:image_pk>/", products.ProductImageDetailView.as_view(), name="product-image"),
    path("products/<int:pk>/similar/", search.ProductSimilarView.as_view(), name="product-similar"),
    path("image-fetches/<int:pk>/", products.ImageFetchDetailView.as_view(), name="image-fetch"),
    path("categories/", products.CategoryListView.as_view(), name="category-list"),
    path("categories/<int:pk>/", products.CategoryDetailView.as_view(), name="category-detail"),
    path("search/", search.SearchView.as_view(), name="search"),
    path("search/opened/", search.ResultOpenedView.as_view(), name="search-opened"),
    path("index/status/", index.IndexStatusView.as_view(), name="index-status"),
    path("webhooks/shopify/", webhooks.ShopifyWebhookView.as_view(), name="webhook-shopify"),
    path("webhooks/woocommerce/", webhooks.WooCommerceWebhookView.as_view(), name="webhook-woocommerce"),
    path("schema/", docs.SchemaView.as_view(), name="schema"),
    path("docs/", docs.DocsView.as_view(url_name="storeapi:schema"), name="docs"),
]
