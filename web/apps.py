from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "web"
    verbose_name = "Web: the pages people look at, and their live stream"
