"""Production: external Postgres (with pgvector) and Redis are required."""

import os

if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
    raise RuntimeError("production settings need DATABASE_URL and REDIS_URL (no embedded servers in production)")

from .base import *  # noqa: F403
from .base import env, secret_key_for

DEBUG = False
SECRET_KEY = secret_key_for(DEBUG)
# HTTPS only (`manage.py check --deploy` is clean with these defaults; CI runs it). Behind a proxy
# that terminates TLS and sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# Browsers remember to use HTTPS only; set 0 while trying HTTPS out (a browser keeps the rule
# for this many seconds).
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
# Allows submitting the domain to browsers' preload lists (hstspreload.org); nothing happens
# until its owner does.
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
}
