from django.urls import path

from github import views

urlpatterns = [
    path("webhooks/github", views.github_webhook, name="github-webhook"),
]
