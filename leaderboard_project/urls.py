from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from api.cache import MICRO_BEFORE_DJANGO, route_cached
from leaderboard_project.metrics import metrics_view
from scoring.apis.badges import BadgeSvgApi
from web.apis import BoardStreamApi

urlpatterns = [
    path(settings.ADMIN_PATH, admin.site.urls),  # ADMIN_PATH
    path("v1/schema", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI's files come from drf-spectacular-sidecar (whitenoise serves them): no CDN needed;
    # the split view serves its start-up script as a file too (the CSP allows no inline script).
    path(
        "v1/docs",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="web/swagger_ui.html"),
        name="docs",
    ),
    path("v1/", include("scoring.urls")),
    path("metrics", metrics_view, name="metrics"),  # Prometheus's text format, all workers' figures
    path("v1/", include("github.urls")),
    path("v1/stream", BoardStreamApi.as_view(), name="board-stream"),
    path(
        "badges/contributors/<str:contributor>.svg",
        route_cached(MICRO_BEFORE_DJANGO, BadgeSvgApi.as_view()),
        name="badge-svg",
    ),
    path("", include("web.urls")),
]

# Django's own errors (no URL matched, a bad Host header, a crash) in the API's JSON shape.
handler400 = "leaderboard_project.exceptions.bad_request"
handler403 = "leaderboard_project.exceptions.permission_denied"
handler404 = "leaderboard_project.exceptions.page_not_found"
handler500 = "leaderboard_project.exceptions.server_error"
