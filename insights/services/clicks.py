"""Clicked photo searches as pairs to tune the model on, when the merchant opts in.

With ``SNAPSHELF_INSIGHTS_TUNE_FROM_CLICKS`` a photo search keeps its query token (the search
app keeps the query's vector under it for SNAPSHELF_SEARCH_QUERY_TTL_SECONDS), and opening one of
its results keeps the query's vector with that product (``ClickedPhoto``): "a shopper's photo of
this product". ``search_model tune`` asks for them (search.services.tuning.tuning_photos_collect)
and learns from them as from the merchant's own shop photos. The vector is kept, never the photo;
the pairs are deleted with the searches (INSIGHTS_RETENTION_DAYS).
"""

from __future__ import annotations

import numpy as np

from insights.conf import insights_setting
from insights.models import ClickedPhoto, SearchEvent
from search.models import EmbeddingModel
from search.services.model_switch import embedding_model_active
from search.services.query_photos import query_photo_vector
from search.tuning import TrainingPhotos


def clicked_photo_keep(event: SearchEvent, product_id: int) -> ClickedPhoto | None:
    """Keep the photo search's vector with the opened product (once per search and product),
    while the search app still keeps the vector and it is the active model's."""
    model = embedding_model_active()
    vector = query_photo_vector(event.photo_token, model=model) if model is not None else None
    if model is None or vector is None:
        return None
    clicked, _ = ClickedPhoto.objects.get_or_create(
        search_id=event.pk, product_id=product_id, defaults={"model": model, "vector": vector.tobytes()}
    )
    return clicked


def clicked_photos_training(model: EmbeddingModel) -> TrainingPhotos | None:
    """The model's clicked photos as training photos (shop photos of the opened products), or
    None when the merchant has not opted in or there are none."""
    if not insights_setting("INSIGHTS_TUNE_FROM_CLICKS"):
        return None
    rows = [
        (product_id, np.frombuffer(bytes(vector), dtype=np.float32))
        for product_id, vector in ClickedPhoto.objects.filter(model=model).values_list("product_id", "vector")
    ]
    rows = [(product_id, vector) for product_id, vector in rows if len(vector) == model.image_dim]
    if not rows:
        return None
    return TrainingPhotos(
        vectors=np.stack([vector for _, vector in rows]),
        products=np.array([product_id for product_id, _ in rows], dtype=np.int64),
        shop=np.ones(len(rows), dtype=bool),
    )
