"""The demo catalog: products with images drawn by code (the project ships no one's photos).

8 kinds of product in 8 colours (64 products over 8 categories). Each kind has its own
silhouette and each product a pattern variant, so colour and shape both differ visibly and
a photo search has something real to find.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from PIL import Image, ImageDraw

SIZE = 448
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (206, 32, 41),
    "blue": (33, 82, 196),
    "green": (34, 139, 60),
    "yellow": (240, 200, 30),
    "black": (30, 30, 30),
    "white": (236, 236, 230),
    "orange": (240, 120, 20),
    "purple": (120, 50, 160),
}
OUTLINE = (60, 60, 60)
Draw = Callable[[ImageDraw.ImageDraw, tuple[int, int, int], int], None]


@dataclass(frozen=True)
class DemoKind:
    noun: str
    category_path: str
    base_price: Decimal
    material: str
    draw: Draw


def _mug(d: ImageDraw.ImageDraw, c: tuple[int, int, int], v: int) -> None:
    d.rounded_rectangle((110, 120, 300, 360), radius=18, fill=c, outline=OUTLINE, width=4)
    d.arc((260, 170, 360, 300), start=270, end=90, fill=c, width=22)
    if v % 2:
        d.ellipse((170, 200, 240, 270), fill=(255, 255, 255))


def _sneaker(d: ImageDraw.ImageDraw, c: tuple[int, int, int], v: int) -> None:
    d.polygon([(60, 300), (90, 200), (200, 180), (260, 230), (390, 260), (400, 320), (60, 320)], fill=c)
    d.rectangle((55, 320, 405, 345), fill=(250, 250, 250), outline=OUTLINE, width=3)
    for i in range(3 + v % 3):
        d.line((150 + i * 22, 200, 170 + i * 22, 250), fill=(255, 255, 255), width=5)


def _shirt(d: ImageDraw.ImageDraw, c: tuple[int, int, int], v: int) -> None:
    body = [(140, 90), (190, 70), (258, 70), (308, 90), (380, 150), (345, 195), (315, 170),
            (315, 380), (133, 380), (133, 170), (103, 195), (68, 150)]  # fmt: skip
    d.polygon(body, fill=c, outline=OUTLINE)
    stripe = (255, 255, 255) if c != COLOURS["white"] else (40, 40, 40)
    for y in range(120, 370, 36 - 6 * (v % 3)):
        d.line((135, y, 313, y), fill=stripe, width=6)


def _cap(d: ImageDraw.ImageDraw, c: tuple[int, int, int], v: int) -> None:
    d.chord((100, 130, 340, 370), start=180, end=360, fill=c, outline=OUTLINE, width=4)
    d.polygon([(300, 250), (410, 262), (400, 280), (300, 270)], fill=c, outline=OUTLINE)
    d.ellipse((208, 118, 232, 142), fill=c, outline=OUTLINE)
    if v % 2:
        d.rectangle((170, 200, 270, 230), fill=(255, 255, 255))


def _backpack(d: ImageDraw.ImageDraw, c: tuple[int, int, int], v: int) -> None:
    d.rounded_rectangle((120, 90, 330, 390), radius=60, fill=c, outline=OUTLINE, width=4)
    d.rounded_rectangle((150, 250, 300, 360), radius=20, outline=OUTLINE, width=4)
    d.arc((180, 40, 270, 130), start=180, end=360, fill=OUTLINE, width=10)
    if v % 2:
        d.line((150, 290, 300, 290), fill=OUTLINE, width=4)


def _lamp(d: ImageDraw.ImageDraw, c: tuple[int, int, int], v: int) -> None:
    d.polygon([(150, 90), (300, 90), (350, 210), (100, 210)], fill=c, outline=OUTLINE)
    d.rectangle((215, 210, 235, 360), fill=(120, 120, 120))
    d.ellipse((150, 350, 300, 390), fill=(90, 90, 90))
    if v % 2:
        d.line((125, 180, 325, 180), fill=(255, 255, 255), width=6)


def _bottle(d: ImageDraw.ImageDraw, c: tuple[int, int, int], v: int) -> None:
    d.rounded_rectangle((170, 150, 280, 400), radius=30, fill=c, outline=OUTLINE, width=4)
    d.rectangle((200, 90, 250, 150), fill=c, outline=OUTLINE, width=4)
    d.rectangle((195, 70, 255, 95), fill=(40, 40, 40))
    if v % 2:
        d.rectangle((172, 230, 278, 300), fill=(250, 250, 250))


def _sock(d: ImageDraw.ImageDraw, c: tuple[int, int, int], v: int) -> None:
    d.polygon([(180, 60), (270, 60), (270, 280), (340, 330), (320, 390), (180, 330)], fill=c, outline=OUTLINE)
    d.rectangle((180, 60, 270, 95), fill=(250, 250, 250), outline=OUTLINE)
    for i in range(v % 3):
        d.line((182, 130 + 40 * i, 268, 130 + 40 * i), fill=(250, 250, 250), width=8)


KINDS = (
    DemoKind("Mug", "Home > Kitchen > Mugs", Decimal("9.90"), "ceramic", _mug),
    DemoKind("Sneaker", "Apparel > Footwear > Sneakers", Decimal("59.00"), "canvas", _sneaker),
    DemoKind("Striped Shirt", "Apparel > Topwear > Shirts", Decimal("29.50"), "cotton", _shirt),
    DemoKind("Cap", "Apparel > Accessories > Caps", Decimal("14.00"), "cotton", _cap),
    DemoKind("Backpack", "Bags > Backpacks", Decimal("45.00"), "nylon", _backpack),
    DemoKind("Table Lamp", "Home > Lighting > Lamps", Decimal("39.00"), "metal", _lamp),
    DemoKind("Water Bottle", "Home > Kitchen > Bottles", Decimal("12.50"), "steel", _bottle),
    DemoKind("Sock", "Apparel > Accessories > Socks", Decimal("6.90"), "wool", _sock),
)


@dataclass(frozen=True)
class DemoProduct:
    sku: str
    title: str
    description: str
    category_path: str
    price: Decimal
    stock: int
    attributes: dict[str, str]
    image_png: bytes


def demo_image(kind: DemoKind, colour: str, variant: int) -> bytes:
    image = Image.new("RGB", (SIZE, SIZE), (248, 248, 246))
    kind.draw(ImageDraw.Draw(image), COLOURS[colour], variant)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def demo_products() -> list[DemoProduct]:
    products = []
    for kind_index, kind in enumerate(KINDS):
        for colour_index, colour in enumerate(COLOURS):
            variant = kind_index + colour_index
            slug = kind.noun.lower().replace(" ", "-")
            products.append(
                DemoProduct(
                    sku=f"DEMO-{slug}-{colour}".upper(),
                    title=f"{colour.title()} {kind.noun}",
                    description=f"A {colour} {kind.material} {kind.noun.lower()} from the Snapshelf demo catalog.",
                    category_path=kind.category_path,
                    price=kind.base_price + Decimal(colour_index) * Decimal("0.50"),
                    stock=(kind_index * 7 + colour_index * 3) % 12,
                    attributes={"colour": colour, "material": kind.material},
                    image_png=demo_image(kind, colour, variant),
                )
            )
    return products


def demo_catalog_seed() -> int:
    """Upsert the demo products and their images; returns how many products were created."""
    from django.db import transaction

    from catalog.services import UpsertResult, category_get_or_create_path, product_image_add, product_upsert

    created = 0
    for item in demo_products():
        with transaction.atomic():
            product, result = product_upsert(
                sku=item.sku,
                title=item.title,
                description=item.description,
                brand="Snapshelf Demo",
                category=category_get_or_create_path(item.category_path),
                price=item.price,
                stock=item.stock,
                attributes=item.attributes,
            )
            product_image_add(product=product, data=item.image_png, alt_text=item.title, position=0)
        created += result is UpsertResult.CREATED
    return created
