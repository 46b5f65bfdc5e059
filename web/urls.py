from django.urls import path

from api.cache import MICRO, UNTIL_BOARD_CHANGES, route_cached
from web import views

app_name = "web"
board = route_cached(UNTIL_BOARD_CHANGES, views.board)
urlpatterns = [
    path("", board, name="board"),
    # ids are validated by the views (a 400 or 404 page says what is wrong)
    path("projects/<str:project_id>", board, name="project"),
    path("results", route_cached(UNTIL_BOARD_CHANGES, views.hall_of_fame), name="results"),
    path("contributors/", views.contributor_search, name="find"),
    path("contributors/<str:key>", route_cached(MICRO, views.contributor), name="contributor"),
]
