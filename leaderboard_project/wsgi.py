"""WSGI entry point (gunicorn leaderboard_project.wsgi; runserver loads it too)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leaderboard_project.settings")
application = get_wsgi_application()

from leaderboard_project.api_sessions import limit_api_queries  # noqa: E402 - needs the settings

limit_api_queries()
