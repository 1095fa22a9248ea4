"""Word searches through the service: products the words match completely come first, typos are
corrected with the other words as context, and free text that is no list of attributes (a
description, a brand) still finds its product. A small fashion-like catalog of its own, indexed
by a tiny CLIP, whose text leg brings in neighbours the words do not name."""

from __future__ import annotations

import pytest

from catalog.services import category_get_or_create_path, product_upsert
from search.models import ProductKeywords
from search.services.index_queue import embeddings_process_available
from search.services.keywords import words_correct
from search.services.model_switch import embedding_model_activate
from search.services.product_search import SearchQuery, product_search

pytestmark = pytest.mark.django_db

# sku: (title, article type, colour, gender, category, description)
PRODUCTS = {
    "W-SHIRT-WHITE": ("Arrow Men White Formal Shirt", "Shirts", "White", "Men", "Apparel > Topwear > Shirts", ""),
    "W-SHIRT-WHITE-2": ("Peter England Men White Shirt", "Shirts", "White", "Men", "Apparel > Topwear > Shirts", ""),
    "W-SHIRT-BLUE": ("Roadster Men Blue Shirt", "Shirts", "Blue", "Men", "Apparel > Topwear > Shirts", ""),
    "W-SHIRT-NAVY": ("Roadster Men Navy Blue Shirt", "Shirts", "Navy Blue", "Men", "Apparel > Topwear > Shirts", ""),
    "W-TEE-WHITE": ("Nike Men White T-Shirt", "Tshirts", "White", "Men", "Apparel > Topwear > Tshirts", ""),
    "W-TEE-WHITE-2": ("Puma Men White Round T-Shirt", "Tshirts", "White", "Men", "Apparel > Topwear > Tshirts", ""),
    "W-TEE-BEATLES": (
        "Kook N Keech Beatles Men Black T-Shirt", "Tshirts", "Black", "Men", "Apparel > Topwear > Tshirts", "",
    ),
    "W-KURTA-OFF": ("Fabindia Women Off White Kurta", "Kurtas", "Off White", "Women", "Apparel > Topwear > Kurtas", ""),
    "W-KURTA-WHITE": ("Fabindia Women White Kurta", "Kurtas", "White", "Women", "Apparel > Topwear > Kurtas", ""),
    "W-KURTA-RED": ("Biba Women Red Kurta", "Kurtas", "Red", "Women", "Apparel > Topwear > Kurtas", ""),
    "W-TOP-BLUE": ("Vero Moda Women Blue Top", "Tops", "Blue", "Women", "Apparel > Topwear > Tops", ""),
    "W-SKIRT-BLUE": ("Palm Tree Girls Blue Skirt", "Skirts", "Blue", "Women", "Apparel > Bottomwear > Skirts", ""),
    "W-SHORTS-BLUE": ("Nike Men Blue Shorts", "Shorts", "Blue", "Men", "Apparel > Bottomwear > Shorts", ""),
    "W-BELT-BLACK": ("Puma Men Black Leather Belt", "Belts", "Black", "Men", "Accessories > Belts > Belts", ""),
    "W-BELT-BROWN": ("Lino Perros Men Brown Belt", "Belts", "Brown", "Men", "Accessories > Belts > Belts", ""),
    "W-SHOE-RUN": (
        "Nike Women Revolution Shoes", "Sports Shoes", "Grey", "Women", "Footwear > Shoes > Sports Shoes",
        "Lightweight running shoes with a breathable mesh upper, cushioned for long runs.",
    ),
    "W-SHOE-CASUAL": ("Puma Men Grey Sneakers", "Casual Shoes", "Grey", "Men", "Footwear > Shoes > Casual Shoes", ""),
}  # fmt: skip


@pytest.fixture
def shop(tiny_models, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # the vocabulary is written on commit
        for sku, (title, article, colour, gender, category, description) in PRODUCTS.items():
            product_upsert(
                sku=sku,
                title=title,
                brand=title.split(" ")[0],
                price="10.00",
                description=description,
                attributes={"article_type": article, "colour": colour, "gender": gender},
                category=category_get_or_create_path(category),
            )
    embedding_model_activate("tiny")
    embeddings_process_available(time_budget=600)


def first(text: str, count: int) -> list[str]:
    return [hit.product.sku for hit in product_search(SearchQuery(text=text, limit=count)).hits]


def test_products_the_words_match_completely_come_before_the_text_models_neighbours(shop):
    # "T-Shirt" holds the word "shirt", but only shirts carry every word as a whole value.
    assert set(first("white shirts", 2)) == {"W-SHIRT-WHITE", "W-SHIRT-WHITE-2"}
    assert set(first("white shirt", 2)) == {"W-SHIRT-WHITE", "W-SHIRT-WHITE-2"}
    assert set(first("shirts white", 2)) == {"W-SHIRT-WHITE", "W-SHIRT-WHITE-2"}
    assert set(first("white tshirts for men", 2)) == {"W-TEE-WHITE", "W-TEE-WHITE-2"}
    # The other products still follow: fusion fills the page as before.
    assert len(first("white shirts", 10)) == 10


def test_a_value_named_whole_ranks_above_one_named_in_part(shop):
    assert first("blue shirts", 1) == ["W-SHIRT-BLUE"]
    assert first("navy blue shirts", 1) == ["W-SHIRT-NAVY"]
    assert first("shirts blue navy", 1) == ["W-SHIRT-NAVY"]
    # "off" is an English stop word, and here a colour word.
    assert first("off white kurtas", 1) == ["W-KURTA-OFF"]
    assert first("white kurtas", 1) == ["W-KURTA-WHITE"]
    named = ProductKeywords.objects.get(product__sku="W-KURTA-OFF").named_values
    assert {"off white", "kurta", "women", "fabindia", "apparel", "topwear"} <= set(named)
    # Sorted English stems: "Navy Blue" and "blue navy" both give "blue navi".
    assert "blue navi" in ProductKeywords.objects.get(product__sku="W-SHIRT-NAVY").named_values


def test_typos_are_corrected_to_the_word_the_other_words_go_with(shop):
    # "sirts" is as close to "skirts" as to "shirts"; men's blue ones are shirts.
    assert words_correct(["men", "blue", "sirts"]) == ["men", "blue", "shirts"]
    # "betls" is closer to "beatles" than to "belts", but black belts are in the catalog.
    assert words_correct(["black", "betls"]) == ["black", "belts"]
    assert words_correct(["men", "white", "shrits"]) == ["men", "white", "shirts"]
    # Three-letter words are corrected too, and a swap of two letters is one edit.
    assert words_correct(["women", "blue", "tps"]) == ["women", "blue", "tops"]
    assert words_correct(["women", "blue", "tpos"]) == ["women", "blue", "tops"]
    result = product_search(SearchQuery(text="men blue sirts", limit=1))
    assert result.corrected_text == "men blue shirts"
    assert [hit.product.sku for hit in result.hits] == ["W-SHIRT-BLUE"]
    # Words of the catalog, prefixes of them, stop words and two-letter words stay as typed.
    assert words_correct(["blue", "skirts", "shi", "for", "tp"]) == ["blue", "skirts", "shi", "for", "tp"]


def test_free_text_that_is_no_list_of_attributes_still_finds_its_product(shop):
    # Words of a description, a brand, a title's model name: nothing here names a whole value.
    assert first("running shoes with a breathable mesh", 1) == ["W-SHOE-RUN"]
    assert first("lightweight shoes for long runs", 1) == ["W-SHOE-RUN"]
    assert first("nike revolution", 1) == ["W-SHOE-RUN"]
    assert set(first("fabindia", 2)) == {"W-KURTA-OFF", "W-KURTA-WHITE"}
    assert first("kook n keech beatles", 1) == ["W-TEE-BEATLES"]
    assert set(first("leather belt", 2)) == {"W-BELT-BLACK", "W-BELT-BROWN"}
    assert first("leather belt", 1) == ["W-BELT-BLACK"]
