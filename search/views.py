"""Storefront views: parse the form, call the search service, shape the page. No logic here."""

from __future__ import annotations

import time

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from catalog.image_intake import ImageRejected
from catalog.selectors import product_images, product_list_active
from search.conf import search_setting
from search.events import result_announce, search_announce, similar_announce
from search.forms import PAGE_SIZE, SearchForm
from search.rate_limits import storefront_search_limited
from search.request_guards import content_length
from search.services.model_switch import embedding_model_active
from search.services.product_search import (
    SearchError,
    SearchResult,
    product_search,
    products_similar,
    query_photo_embed,
)
from search.services.query_photos import query_photo_load

SIMILAR_COUNT = 8
# Room for the form's other fields (words, filters, the CSRF token) and multipart's boundaries.
FORM_OVERHEAD_BYTES = 64 * 1024


def storefront_home(request: HttpRequest) -> HttpResponse:
    products = product_list_active()[:24]
    return render(request, "search/home.html", {"products": products, "form": SearchForm()})


@require_http_methods(["GET", "POST"])
def search_results(request: HttpRequest) -> HttpResponse:
    """GET: words, a kept photo (token), filters, pages: the search runs here, once. POST: a new
    photo, embedded once and kept under a token, answered with a redirect (303) to the GET page of
    that token, so reload, back and sharing a page work."""
    refused = _search_refused(request)
    if refused is not None:
        return refused
    post = request.method == "POST"
    form = SearchForm(request.POST if post else request.GET, request.FILES or None)
    context: dict[str, object] = {"form": form}
    if not form.is_valid():
        return render(request, "search/results.html", context, status=400)
    if not form.has_query:
        context["message"] = "Type a few words or add a photo to search."
        return render(request, "search/results.html", context)
    owner = query_photo_owner(request, create=bool(form.photo_data))
    started = time.perf_counter()
    try:
        if post:
            token = query_photo_embed(form.photo_data, owner=owner) if form.photo_data else ""
            return HttpResponseRedirect(_results_url(form, token), status=303)
        query = form.search_query(owner=owner)
        result = product_search(query)
    except ImageRejected as exc:
        form.add_error("photo", str(exc))
        return render(request, "search/results.html", context, status=400)
    except SearchError as exc:
        context["message"] = str(exc)
        return render(request, "search/results.html", context, status=400)
    context.update(_page_context(form, result, request.GET))
    context["search_id"] = search_announce(request, channel="storefront", query=query, result=result, started=started)
    return render(request, "search/results.html", context)


def query_photo_owner(request: HttpRequest, *, create: bool) -> str:
    """A photo's token belongs to the shopper's session; a new photo starts one if needed."""
    if create and not request.session.session_key:
        request.session.save()
        request.session.modified = True  # so that the middleware sends the session cookie
    return f"session:{request.session.session_key or ''}"


def _search_refused(request: HttpRequest) -> HttpResponse | None:
    """A body too large (from its Content-Length, before it is read), or a client over its rate."""
    photo = request.method == "POST"
    photo_limit = search_setting("SEARCH_QUERY_IMAGE_MAX_BYTES")
    if photo and content_length(request) > photo_limit + FORM_OVERHEAD_BYTES:
        message = f"The photo is too large; the limit is {photo_limit / 1_048_576:.0f} MB."
        return render(request, "search/results.html", {"form": SearchForm(), "message": message}, status=413)
    if not photo and not any(request.GET.get(name) for name in ("q", "token", "category")):
        return None  # the empty search page: nothing to count
    wait = storefront_search_limited(request, photo=photo)
    if wait is None:
        return None
    what = "photo searches" if photo else "searches"
    message = f"Too many {what} from your address; try again in {int(wait) + 1} seconds."
    response = render(request, "search/results.html", {"form": SearchForm(), "message": message}, status=429)
    response["Retry-After"] = str(int(wait) + 1)
    return response


def _results_url(form: SearchForm, token: str) -> str:
    params = QueryDict(mutable=True)
    for name in ("q", "category", "colour", "price_min", "price_max"):
        value = form.data.get(name, "")
        if value:
            params[name] = value
    if form.cleaned_data.get("in_stock"):
        params["in_stock"] = "on"
    if token:
        params["token"] = token
    elif form.cleaned_data.get("token"):
        params["token"] = form.cleaned_data["token"]
    return f"{reverse('search:results')}?{params.urlencode()}"


def _page_context(form: SearchForm, result: SearchResult, query: QueryDict) -> dict[str, object]:
    page = form.cleaned_data.get("page") or 1

    def page_url(number: int) -> str:
        params = query.copy()
        params["page"] = str(number)
        return f"?{params.urlencode()}"

    return {
        "result": result,
        "page": page,
        "first_number": (page - 1) * PAGE_SIZE + 1,
        "last_number": (page - 1) * PAGE_SIZE + len(result.hits),
        "keep_photo_url": (
            f"{reverse('search:query-photo')}?token={result.image_token}"
            if result.image_token and search_setting("SEARCH_KEEP_QUERY_PHOTO")
            else ""
        ),
        "previous_url": page_url(page - 1) if page > 1 else "",
        "next_url": page_url(page + 1) if result.has_more else "",
        "token": result.image_token,
        "query_text": form.cleaned_data.get("q", ""),
    }


def product_detail(request: HttpRequest, pk: int) -> HttpResponse:
    product = get_object_or_404(product_list_active(), pk=pk)
    started = time.perf_counter()
    similar = products_similar(product, limit=SIMILAR_COUNT)
    search_id = similar_announce(request, channel="storefront", product_id=pk, hits=similar, started=started)
    context = {
        "product": product, "images": product_images(product), "similar": similar, "form": SearchForm(),
        "search_id": search_id,
    }  # fmt: skip
    return render(request, "search/product_detail.html", context)


def result_open(request: HttpRequest, search_id: int, rank: int, pk: int) -> HttpResponse:
    """A result link: tells listeners which result of which search was opened, then shows the
    product. A plain link, so it works without JavaScript; no cookie, nothing about the shopper."""
    result_announce(search_id=search_id, rank=rank, product_id=pk)
    return HttpResponseRedirect(reverse("search:product-detail", args=[pk]))


def query_photo(request: HttpRequest) -> HttpResponse:
    """The kept query photo (only when SNAPSHELF_SEARCH_KEEP_QUERY_PHOTO is on), for its session."""
    token = request.GET.get("token", "")
    model = embedding_model_active()
    kept = query_photo_load(token, model=model, owner=query_photo_owner(request, create=False)) if model else None
    if kept is None or kept.photo_jpeg is None:
        raise Http404("No such photo")
    return HttpResponse(kept.photo_jpeg, content_type="image/jpeg", headers={"Cache-Control": "private, max-age=600"})
