"""ASGI entry point."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leaderboard_project.settings")
application = get_asgi_application()

from leaderboard_project.api_sessions import limit_api_queries  # noqa: E402 - needs the settings

limit_api_queries()
