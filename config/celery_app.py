from celery import Celery

# No default settings module: this module is imported with the `config` package (config/__init__.py),
# so a default here would decide for manage.py and `python -m config.run_local` too. A worker started
# without DJANGO_SETTINGS_MODULE stops with Django's "settings are not configured" instead of
# running with development settings; `make run`, the tests and the docs' commands set it.

app = Celery("snapshelf")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
