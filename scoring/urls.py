from django.urls import path

from scoring import apis

urlpatterns = [
    path("health-check", apis.HealthCheckApi.as_view(), name="health-check"),
]
