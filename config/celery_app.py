import os

from celery import Celery

# Production unless told otherwise, as config/wsgi.py; `make run` and the tests set their own.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

app = Celery("snapshelf")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
