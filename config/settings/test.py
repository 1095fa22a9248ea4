"""Tests: throwaway embedded servers in a temporary folder, never ``.data/``.

The folder comes from ``SNAPSHELF_DATA_DIR`` when set (``tests/conftest.py`` sets it before
Django loads), else a fresh temporary folder. Postgres deletes its folder when the last
process using it exits; tests/conftest.py stops Redis at the end of the session.
"""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("SNAPSHELF_DATA_DIR", tempfile.mkdtemp(prefix="snapshelf-test-"))
os.environ.setdefault("SNAPSHELF_EMBEDDED_DELETE_ON_EXIT", "true")

from .base import *  # noqa: F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = Path(env("DJANGO_MEDIA_ROOT", default=str(DATA_DIR / "media")))  # noqa: F405
CACHES["default"]["KEY_PREFIX"] = "snapshelf-test"  # noqa: F405
THUMBNAIL_DEBUG = True
WHITENOISE_USE_FINDERS = True
SERVE_MEDIA = True  # the browser tests load product images from the live server
