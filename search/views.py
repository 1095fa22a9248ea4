from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from catalog.selectors import product_list_active


def storefront_home(request: HttpRequest) -> HttpResponse:
    products = product_list_active()[:24]
    return render(request, "search/home.html", {"products": products})


def product_detail(request: HttpRequest, pk: int) -> HttpResponse:
    product = get_object_or_404(product_list_active(), pk=pk)
    return render(request, "search/product_detail.html", {"product": product})
