from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class RowError(ValueError):
    """A row that cannot be imported; the message says why."""


@dataclass(frozen=True)
class ImageSource:
    """A local path (relative to the images folder) or an http(s) URL."""

    location: str
    alt_text: str = ""
    position: int | None = None
    # A shopper-like photo: used by search, never shown on the storefront (ProductImage.search_only).
    search_only: bool = False

    @property
    def is_url(self) -> bool:
        return self.location.startswith(("http://", "https://"))


@dataclass
class ImportRow:
    row_number: int
    sku: str
    fields: dict[str, Any]
    category_path: str = ""
    images: list[ImageSource] = field(default_factory=list)


@dataclass(frozen=True)
class RowFailure:
    row_number: int
    sku: str
    reason: str
