import pytest
from django.core.management import call_command

from catalog.demo import COLOURS, KINDS, demo_products
from catalog.models import Category, Product


def test_demo_catalog_shape():
    products = demo_products()
    assert len(products) >= 60
    assert len({p.category_path for p in products}) >= 6
    assert len({p.attributes["colour"] for p in products}) >= 8
    assert len({p.image_png for p in products}) == len(products)


@pytest.mark.django_db
def test_seed_only_if_empty(capsys):
    call_command("seed_demo_catalog", "--if-empty")
    assert Product.objects.count() == len(KINDS) * len(COLOURS)
    assert Category.objects.filter(parent__isnull=True).count() >= 3
    call_command("seed_demo_catalog", "--if-empty")
    assert "was not added" in capsys.readouterr().out
    call_command("seed_demo_catalog")
    assert Product.objects.count() == len(KINDS) * len(COLOURS)
    assert all(p.images.count() == 1 for p in Product.objects.all())
