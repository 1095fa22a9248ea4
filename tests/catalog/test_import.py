import csv
import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Category, Product, ProductImage
from tests.datasets import dataset_folder
from tests.sample_images import image_bytes

pytestmark = pytest.mark.django_db

GENERIC_COLUMNS = ["sku", "title", "description", "brand", "category", "price", "currency", "stock", "url",
                   "attributes", "images"]  # fmt: skip


def write_csv(path, columns, rows):
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def images_dir(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "red.png").write_bytes(image_bytes((220, 20, 20)))
    (folder / "blue.jpg").write_bytes(image_bytes((20, 20, 220), fmt="JPEG"))
    (folder / "broken.jpg").write_bytes(b"not really a jpeg")
    return folder


def test_csv_good_bad_and_repeated_rows(tmp_path, images_dir, capsys):
    rows = [
        {"sku": "A-1", "title": "Red mug", "category": "Home > Kitchen > Mugs", "price": "9.90", "stock": "3",
         "attributes": '{"colour": "red"}', "images": "red.png|blue.jpg", "currency": "eur"},
        {"sku": "A-2", "title": "Blue mug", "category": "Home > Kitchen > Mugs", "price": "abc"},
        {"sku": "", "title": "No SKU"},
        {"sku": "A-3", "title": "Broken image", "images": "broken.jpg"},
        {"sku": "A-4", "title": "Missing image", "images": "nowhere.png"},
        {"sku": "A-5", "title": "Socks", "category": "Apparel/Socks", "attributes": "colour=blue; size=M",
         "price": "3", "stock": "0"},
    ]  # fmt: skip
    path = write_csv(tmp_path / "catalog.csv", GENERIC_COLUMNS, rows)
    with pytest.raises(CommandError, match="4 row"):
        call_command("import_catalog", str(path), "--images", str(images_dir), "--no-progress")
    err = capsys.readouterr().err
    assert "row 3 (A-2): price 'abc' is not a number" in err
    assert "row 4 (no SKU): sku is empty" in err
    assert "row 5 (A-3): image 'broken.jpg'" in err
    assert "row 6 (A-4): image file 'nowhere.png' was not found" in err

    mug = Product.objects.get(sku="A-1")
    assert mug.price == Decimal("9.90") and mug.currency == "EUR" and mug.stock == 3 and mug.in_stock
    assert mug.attributes == {"colour": "red"}
    assert mug.category.full_path == "Home > Kitchen > Mugs"
    assert list(mug.images.values_list("position", flat=True)) == [0, 1]
    socks = Product.objects.get(sku="A-5")
    assert socks.attributes == {"colour": "blue", "size": "M"} and not socks.in_stock
    assert socks.category.full_path == "Apparel > Socks"
    assert not Product.objects.filter(sku__in=["A-2", "A-3", "A-4"]).exists()

    # A second run changes nothing and stores no image twice.
    updated_at = mug.updated_at
    with pytest.raises(CommandError):
        call_command("import_catalog", str(path), "--images", str(images_dir), "--no-progress")
    assert "0 created, 0 updated, 2 unchanged, 0 images added, 4 failed" in capsys.readouterr().out
    mug.refresh_from_db()
    assert mug.updated_at == updated_at
    assert ProductImage.objects.count() == 2
    assert Category.objects.filter(name="Mugs").count() == 1


def test_csv_update_changes_only_given_fields(tmp_path, images_dir, capsys):
    path = write_csv(tmp_path / "a.csv", ["sku", "title", "price"], [{"sku": "B-1", "title": "Lamp", "price": "5"}])
    call_command("import_catalog", str(path), "--no-progress")
    write_csv(path, ["sku", "title", "price"], [{"sku": "B-1", "title": "Lamp", "price": "7.5"}])
    call_command("import_catalog", str(path), "--no-progress")
    assert "0 created, 1 updated" in capsys.readouterr().out
    assert Product.objects.get(sku="B-1").price == Decimal("7.50")


def test_jsonl(tmp_path, images_dir):
    path = tmp_path / "catalog.jsonl"
    lines = [
        json.dumps({"sku": "J-1", "title": "Cap", "attributes": {"colour": "green"}, "images": ["red.png"],
                    "category": "Apparel > Caps", "price": 12}),
        "{not json",
        json.dumps(["a list"]),
    ]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(CommandError, match="2 row"):
        call_command("import_catalog", str(path), "--images", str(images_dir), "--no-progress")
    cap = Product.objects.get(sku="J-1")
    assert cap.attributes == {"colour": "green"} and cap.images.count() == 1


SHOPIFY_COLUMNS = ["Handle", "Title", "Body (HTML)", "Vendor", "Type", "Tags", "Published", "Option1 Name",
                   "Option1 Value", "Variant SKU", "Variant Inventory Qty", "Variant Price", "Image Src",
                   "Image Position", "Image Alt Text"]  # fmt: skip


def test_shopify_export_groups_rows_by_handle(tmp_path, images_dir):
    rows = [
        {"Handle": "red-tee", "Title": "Red Tee", "Body (HTML)": "<p>Soft &amp; red</p>", "Vendor": "Acme",
         "Type": "Shirts", "Tags": "summer, cotton", "Published": "true", "Option1 Name": "Size",
         "Option1 Value": "S", "Variant SKU": "TEE-RED-S", "Variant Inventory Qty": "2", "Variant Price": "19.00",
         "Image Src": "red.png", "Image Position": "1", "Image Alt Text": "Front"},
        {"Handle": "red-tee", "Option1 Value": "M", "Variant SKU": "TEE-RED-M", "Variant Inventory Qty": "3",
         "Variant Price": "19.00", "Image Src": "blue.jpg", "Image Position": "2"},
        {"Handle": "no-title", "Title": ""},
    ]  # fmt: skip
    path = write_csv(tmp_path / "products_export.csv", SHOPIFY_COLUMNS, rows)
    with pytest.raises(CommandError, match="1 row"):
        call_command("import_catalog", str(path), "--images", str(images_dir), "--no-progress")
    tee = Product.objects.get(sku="TEE-RED-S")
    assert tee.title == "Red Tee" and tee.description == "Soft & red" and tee.brand == "Acme"
    assert tee.stock == 5 and tee.price == Decimal("19.00")
    assert tee.attributes == {"tags": ["summer", "cotton"], "size": ["M", "S"]}
    assert [(i.position, i.alt_text) for i in tee.images.all()] == [(1, "Front"), (2, "")]


def test_image_urls_to_private_addresses_fail_the_row(tmp_path, capsys):
    path = write_csv(
        tmp_path / "u.csv",
        ["sku", "title", "images"],
        [{"sku": "U-1", "title": "X", "images": "http://127.0.0.1/x.png"}],
    )
    with pytest.raises(CommandError):
        call_command("import_catalog", str(path), "--no-progress")
    assert "private, loopback or link-local" in capsys.readouterr().err
    assert not Product.objects.filter(sku="U-1").exists()


def test_fashion_csv_subset(tmp_path, capsys):
    fashion = dataset_folder("fashion")
    with (fashion / "metadata.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        rows = [row for _, row in zip(range(25), reader, strict=False)]
    path = write_csv(tmp_path / "fashion.csv", list(rows[0]), rows)
    call_command("import_catalog", str(path), "--format", "fashion-csv", "--images", str(fashion), "--no-progress")
    assert "25 created, 0 updated, 0 unchanged, 25 images added, 0 failed" in capsys.readouterr().out
    first = Product.objects.get(sku=f"fashion-{rows[0]['id']}")
    assert first.title == rows[0]["productDisplayName"]
    assert first.attributes["colour"] == rows[0]["baseColour"]
    assert first.category.full_path == " > ".join([rows[0]["masterCategory"], rows[0]["subCategory"],
                                                   rows[0]["articleType"]])  # fmt: skip
    prices = set(Product.objects.values_list("price", flat=True))
    assert len(prices) > 1 and all(Decimal("4.99") <= p <= Decimal("99.99") for p in prices)


def test_missing_file_is_a_command_error():
    with pytest.raises(CommandError, match="is not a file"):
        call_command("import_catalog", "/nonexistent.csv")


def test_search_images_column_adds_search_only_photos(tmp_path, images_dir, capsys):
    columns = ["sku", "title", "images", "search_images"]
    rows = [{"sku": "S-1", "title": "Red mug", "images": "red.png", "search_images": "blue.jpg"}]
    path = write_csv(tmp_path / "shop.csv", columns, rows)
    call_command("import_catalog", str(path), "--images", str(images_dir), "--no-progress")
    images = list(ProductImage.objects.filter(product__sku="S-1").order_by("position"))
    assert [(image.position, image.search_only) for image in images] == [(0, False), (1, True)]
    # Listed again as a shown image, the photo becomes one; nothing is stored twice.
    write_csv(path, columns, [{"sku": "S-1", "title": "Red mug", "images": "red.png|blue.jpg", "search_images": ""}])
    call_command("import_catalog", str(path), "--images", str(images_dir), "--no-progress")
    assert not ProductImage.objects.filter(product__sku="S-1", search_only=True).exists()
    assert ProductImage.objects.filter(product__sku="S-1").count() == 2


def test_jsonl_search_images_and_a_missing_one_fails_the_row(tmp_path, images_dir, capsys):
    path = tmp_path / "shop.jsonl"
    lines = [
        {"sku": "J-1", "title": "Mug", "images": ["red.png"], "search_images": ["blue.jpg"]},
        {"sku": "J-2", "title": "Cup", "search_images": ["nowhere.jpg"]},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines))
    with pytest.raises(CommandError, match="1 row"):
        call_command("import_catalog", str(path), "--images", str(images_dir), "--no-progress")
    assert "row 2 (J-2): image file 'nowhere.jpg' was not found" in capsys.readouterr().err
    assert ProductImage.objects.get(product__sku="J-1", search_only=True).position == 1
    assert not Product.objects.filter(sku="J-2").exists()


@pytest.mark.slow
def test_commands_on_a_database_that_was_never_migrated_say_to_migrate(tmp_path):
    """One message and a non-zero exit, not one error per row (`relation ... does not exist`)."""
    import os
    import subprocess
    import sys
    import uuid
    from pathlib import Path
    from urllib.parse import urlsplit

    import psycopg
    from django.conf import settings

    name = f"unmigrated_{uuid.uuid4().hex[:8]}"
    server = settings.DATABASE_URL
    rows = [{"sku": f"U-{n}", "title": f"Row {n}", "price": "1.00"} for n in range(50)]
    catalog = write_csv(tmp_path / "rows.csv", ["sku", "title", "price"], rows)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "REDIS_URL": settings.REDIS_URL,
        "DATABASE_URL": urlsplit(server)._replace(path=f"/{name}").geturl(),
        "SNAPSHELF_DATA_DIR": str(tmp_path),
    }
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        for command in (["import_catalog", str(catalog), "--no-progress"], ["search_index", "status"]):
            result = subprocess.run(
                [sys.executable, "manage.py", *command], cwd=Path(__file__).resolve().parents[2], env=env,
                capture_output=True, text=True, timeout=300,
            )  # fmt: skip
            assert result.returncode == 1
            assert "The database is not migrated" in result.stderr and "manage.py migrate" in result.stderr
            assert "does not exist" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
