"""Template tags for the storefront pages."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, cast

from django import template
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.template.loader import get_template
from django.urls import reverse
from django.utils import numberformat
from django.utils.formats import get_format
from django.utils.safestring import SafeString
from django.utils.translation import get_language

from catalog.memo import ExpiringMemo
from catalog.models import Product, ProductImage
from catalog.selectors import product_images
from search.conf import search_setting
from search.markup import html_format, html_join
from search.services.product_search import SearchHit

register = template.Library()

# Written card heads are kept this long (seconds): a thumbnail the worker makes meanwhile is
# part of the key, so it shows at once.
CARD_HEAD_SECONDS = 300
# A card is CARD_HEAD (link, picture, title, price, stock), its reasons, then CARD_END.
CARD_HEAD = """<li class="card">
  <a href="{}">
    {}
    <span class="title">{}</span>
  </a>
  <span class="price">{} {}</span>
  {}"""
CARD_END = "\n</li>"
CARD_IMAGE = '<img src="{}" width="{}" height="{}" alt="{}" loading="lazy">'
NO_IMAGE = SafeString('<div class="no-image" aria-hidden="true"></div>')
OUT_OF_STOCK = SafeString('<span class="stock-out">Out of stock</span>')
# Any pk fits <int:pk>; this one stands in for it, so the detail URL is reversed once per list.
URL_PK_MARKER = "9081726354453627180"


@register.simple_tag(takes_context=True)
def product_cards(
    context: template.Context, items: Iterable[SearchHit | Product], *, show_reasons: bool = False
) -> SafeString:
    """``{% product_cards result.hits show_reasons=True %}``: one <li class="card"> per search hit
    or product (its matched image, else its first image). Written here, not by including a card
    template per product: the template engine's per-node work made 24 cards the page's largest
    cost. A project that wants its own card markup names a template in
    SNAPSHELF_STOREFRONT_CARD_TEMPLATE (search/product_card.html is the built-in card as one)."""
    url_pattern = reverse("search:product-detail", args=[URL_PK_MARKER], current_app=_current_app(context))
    card_template_name = search_setting("STOREFRONT_CARD_TEMPLATE")
    card_template = get_template(card_template_name) if card_template_name else None
    language = get_language()
    price_format = _price_formatter(language)
    cards = []
    for item in items:
        if isinstance(item, SearchHit):
            product, image, reasons = item.product, item.matched_image, item.reasons if show_reasons else []
        else:
            product, image, reasons = item, None, []
        url = url_pattern.replace(URL_PK_MARKER, str(product.pk))
        image = image or _first_image(product)
        if card_template is not None:
            card = {"product": product, "image": image, "reasons": reasons, "url": url}
            cards.append(SafeString(card_template.render(card, getattr(context, "request", None))))
        else:
            cards.append(_card(product, image, reasons, url, price_format, language))
    return html_join("\n", cards)


def _card(
    product: Product,
    image: ProductImage | None,
    reasons: list[str],
    url: str,
    price_format: Callable[[Decimal], str],
    language: str,
) -> SafeString:
    head = _card_head(product, image, url, price_format, language)
    tail = html_format('<span class="reasons">{}</span>', "; ".join(reasons)) if reasons else ""
    return SafeString(head + tail + CARD_END)


# Written card heads by everything they show: the same products fill page after page, and writing
# a head cost ~20 us, a twentieth of a results page. Entries live CARD_HEAD_SECONDS; any settings
# change forgets them all (tests: languages, number formats, storages).
_card_heads: ExpiringMemo[tuple[object, ...], str] = ExpiringMemo(max_entries=20_000)


def _card_head(
    product: Product, image: ProductImage | None, url: str, price_format: Callable[[Decimal], str], language: str
) -> str:
    # price_format is the language's (_price_formatter), so the language stands for it in the key.
    thumb = None if image is None else image.card_thumbnail  # stored by the worker, never made here
    shown = None if image is None else (thumb, image.alt_text)
    key = (url, product.title, product.price, product.currency, product.in_stock, shown, language)
    kept = _card_heads.get(key)
    if kept is not None:
        return kept
    picture: SafeString | str = NO_IMAGE
    if image is not None and thumb is not None:
        picture = html_format(CARD_IMAGE, thumb.url, thumb.width, thumb.height, image.alt_text or product.title)
    head = html_format(
        CARD_HEAD,
        url,
        picture,
        product.title,
        price_format(product.price),
        product.currency,
        "" if product.in_stock else OUT_OF_STOCK,
    )
    _card_heads.set(key, head, CARD_HEAD_SECONDS)
    return head


@receiver(setting_changed, dispatch_uid="search_card_heads_settings")
def _settings_changed(**kwargs: Any) -> None:
    _card_heads.clear()


def _price_formatter(lang: str) -> Callable[[Decimal], str]:
    """What localize() does to a Decimal (django.utils.formats.number_format), with the
    language's separators looked up once for the list instead of three times for each price."""
    return functools.partial(
        numberformat.format,
        decimal_sep=get_format("DECIMAL_SEPARATOR", lang, use_l10n=True),
        grouping=get_format("NUMBER_GROUPING", lang, use_l10n=True),
        thousand_sep=get_format("THOUSAND_SEPARATOR", lang, use_l10n=True),
        use_l10n=True,
    )


def _first_image(product: Product) -> ProductImage | None:
    return next(iter(product_images(product)), None)


def _current_app(context: template.Context) -> str | None:
    # As {% url %} does: the namespace instance the page was reached through.
    request = getattr(context, "request", None)
    if request is not None and hasattr(request, "current_app"):
        return cast(str | None, request.current_app)
    return getattr(getattr(request, "resolver_match", None), "namespace", None)
