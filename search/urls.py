from django.urls import path

from search import views

app_name = "search"

urlpatterns = [
    path("", views.storefront_home, name="home"),
    path("search/", views.search_results, name="results"),
    # The token goes in the query string: Django logs a 4xx with the path only.
    path("search/photo/", views.query_photo, name="query-photo"),
    path("products/<int:pk>/", views.product_detail, name="product-detail"),
    path("r/<int:search_id>/<int:rank>/<int:pk>/", views.result_open, name="result-open"),
]
