from django.urls import path

from scoring import apis

urlpatterns = [
    path("health-check", apis.HealthCheckApi.as_view(), name="health-check"),
    path("leaderboard/public", apis.BoardPageApi.as_view(), name="board-page"),
    # user ids are validated by the view (a 400 names a bad one), so the path takes any segment
    path("leaderboard/users/<str:user_id>", apis.UserStandingApi.as_view(), name="user-standing"),
    path("users/<str:user_id>/events", apis.UserEventsApi.as_view(), name="user-events"),
    path("projects", apis.ProjectListApi.as_view(), name="project-list"),
    path("contributors/<str:contributor>", apis.ContributorApi.as_view(), name="contributor"),
    path("rules", apis.RulesApi.as_view(), name="rules"),
]
