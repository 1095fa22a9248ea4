from django.urls import path

from search import views

app_name = "search"

urlpatterns = [
    path("", views.storefront_home, name="home"),
    path("products/<int:pk>/", views.product_detail, name="product-detail"),
]
