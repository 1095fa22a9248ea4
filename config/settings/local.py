"""Local development: ``make run``."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SERVE_MEDIA = env.bool("DJANGO_SERVE_MEDIA", default=DEBUG)
