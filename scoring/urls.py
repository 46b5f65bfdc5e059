from django.urls import path

from api.cache import MICRO_BEFORE_DJANGO, route_cached
from scoring.apis import badges, boards, contributors, results, service

urlpatterns = [
    path("health-check", service.HealthCheckApi.as_view(), name="health-check"),
    # the board reads and the badges are asked for the most: the stream worker answers them from its
    # cache before Django (api/cache.py)
    path("leaderboard/public", route_cached(MICRO_BEFORE_DJANGO, boards.BoardPageApi.as_view()), name="board-page"),
    # user ids are validated by the view (a 400 names a bad one), so the path takes any segment
    path(
        "leaderboard/users/<str:user_id>",
        route_cached(MICRO_BEFORE_DJANGO, boards.UserStandingApi.as_view()),
        name="user-standing",
    ),
    path("users/<str:user_id>/events", contributors.UserEventsApi.as_view(), name="user-events"),
    path("projects", service.ProjectListApi.as_view(), name="project-list"),
    path("contributors/<str:contributor>", contributors.ContributorApi.as_view(), name="contributor"),
    path("badges/<str:contributor>", route_cached(MICRO_BEFORE_DJANGO, badges.BadgeApi.as_view()), name="badge"),
    path("rules", service.RulesApi.as_view(), name="rules"),
    path("results", results.ResultsApi.as_view(), name="results"),
]
