"""DRF views: validate the query, call a selector, shape the answer."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from scoring.health import health_check


class HealthCheckApi(APIView):
    class OutputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=["ok", "error"])
        checks = inline_serializer(
            "HealthChecks", {name: serializers.CharField() for name in ("postgres", "redis", "nats")}
        )

    @extend_schema(
        responses={200: OutputSerializer, 503: OutputSerializer}, summary="Are Postgres, Redis and NATS reachable?"
    )
    def get(self, request):
        healthy, checks = health_check()
        body = {"status": "ok" if healthy else "error", "checks": checks}
        return Response(body, status=status.HTTP_200_OK if healthy else status.HTTP_503_SERVICE_UNAVAILABLE)
