"""Model wrappers that turn images and texts into L2-normalised vectors.

They know nothing about Django models or settings: ``registry.embedder_get`` reads the settings
and builds them; everything else takes plain constructor arguments.
"""

from search.embedders.base import Embedder, EmbedderLoadError

__all__ = ["Embedder", "EmbedderLoadError"]
