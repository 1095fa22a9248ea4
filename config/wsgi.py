"""The WSGI application (gunicorn config.wsgi). Production settings unless told otherwise: a
server started without DJANGO_SETTINGS_MODULE must not run with DEBUG on and a published key.
`make run` sets config.settings.local itself."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

application = get_wsgi_application()
