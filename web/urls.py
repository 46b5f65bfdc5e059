from django.urls import path

from web import views

app_name = "web"
urlpatterns = [
    path("", views.board, name="board"),
    # ids are validated by the views (a 400 or 404 page says what is wrong)
    path("projects/<str:project_id>", views.board, name="project"),
    path("contributors/", views.contributor_search, name="find"),
    path("contributors/<str:key>", views.contributor, name="contributor"),
]
