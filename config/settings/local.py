"""Local development: ``make run``."""

from .base import *  # noqa: F403
from .base import env, secret_key_for

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = secret_key_for(DEBUG)
SERVE_MEDIA = env.bool("DJANGO_SERVE_MEDIA", default=DEBUG)
