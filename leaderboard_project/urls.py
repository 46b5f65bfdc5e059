from django.contrib import admin
from django.contrib.staticfiles.views import serve as serve_static
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("v1/schema", SpectacularAPIView.as_view(), name="schema"),
    path("v1/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("v1/", include("scoring.urls")),
    # The docs page's Swagger UI (drf-spectacular-sidecar) and the admin's assets, served by the
    # app itself: there is no CDN to reach and no separate static server in `make run`.
    re_path(r"^static/(?P<path>.*)$", serve_static, {"insecure": True}),
]

handler400 = "leaderboard_project.exceptions.bad_request"
handler403 = "leaderboard_project.exceptions.permission_denied"
handler404 = "leaderboard_project.exceptions.page_not_found"
handler500 = "leaderboard_project.exceptions.server_error"
