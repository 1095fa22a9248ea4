"""Tests: throwaway embedded servers in a temporary folder, never ``.data/``.

The folder comes from ``SNAPSHELF_DATA_DIR`` when set (``tests/conftest.py`` sets it before
Django loads), else a fresh temporary folder. Postgres deletes its folder when the last
process using it exits; tests/conftest.py stops Redis at the end of the session.
"""

import atexit
import os
import tempfile
from pathlib import Path

if not os.environ.get("SNAPSHELF_DATA_DIR"):
    os.environ["SNAPSHELF_DATA_DIR"] = tempfile.mkdtemp(prefix="snapshelf-test-")
os.environ.setdefault("SNAPSHELF_EMBEDDED_DELETE_ON_EXIT", "true")

from .base import *  # noqa: F403

DEBUG = False
# Tests run with DEBUG off, as production does; their key signs nothing outside the test run.
SECRET_KEY = env("DJANGO_SECRET_KEY", default="snapshelf-tests-only-key-never-for-a-deployment")  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = Path(env("DJANGO_MEDIA_ROOT", default=str(DATA_DIR / "media")))  # noqa: F405
CACHES["default"]["KEY_PREFIX"] = "snapshelf-test"  # noqa: F405
WHITENOISE_USE_FINDERS = True
SERVE_MEDIA = True  # the browser tests load product images from the live server
# Every test client is 127.0.0.1: the storefront's per-address limits are off unless a test sets them.
SNAPSHELF_STOREFRONT_PHOTO_RATE = env("SNAPSHELF_STOREFRONT_PHOTO_RATE", default="0")  # noqa: F405
SNAPSHELF_STOREFRONT_WORDS_RATE = env("SNAPSHELF_STOREFRONT_WORDS_RATE", default="0")  # noqa: F405

if EMBEDDED_REDIS is not None:  # noqa: F405
    # Any process that started the throwaway Redis (pytest, mypy's Django plugin, manage.py
    # makemigrations --check) stops it and removes its folder when it exits.
    atexit.register(EMBEDDED_REDIS.stop_and_remove)  # noqa: F405
