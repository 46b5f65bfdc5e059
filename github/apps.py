from django.apps import AppConfig


class GithubConfig(AppConfig):
    name = "github"
    verbose_name = "GitHub webhooks"
