"""The web server's Prometheus metrics: requests by route and status, latency histograms.

`RequestMetrics` (the outermost middleware) counts every request under its URL pattern's
name — `board-page`, `user-standing`, `admin:index` — never its raw path, so the label's
values are bounded by urls.py. `/metrics` exposes them. Under gunicorn each worker is a
process of its own: with `PROMETHEUS_MULTIPROC_DIR` set (gunicorn.conf.py names and empties it
before the workers start) every worker writes its samples to files there, and `/metrics` adds
up the files of all workers, so a scrape that lands on any worker reads the whole server's figures.

django-prometheus was the first choice and was set aside: its names put the unit inside the
name and end counters in `_total_by_…_total` (`django_http_requests_total_by_view_transport_method_total`,
`django_http_requests_latency_seconds_by_view_method`), against Prometheus's naming guide.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests answered, by URL pattern name, method and status code.",
    ["route", "method", "status"],
)
REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from the request reaching Django to its response, by URL pattern name and method.",
    ["route", "method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # no URL pattern matched (a 404 of the resolver, a bad Host header)
STATIC = "static"  # files whitenoise answers before any URL pattern is tried


def route_of(request: HttpRequest) -> str:
    """The label for a request: its URL pattern's name (namespaced), never the path itself."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.view_name or match.route or UNMATCHED
    if request.path_info.startswith("/" + settings.STATIC_URL.lstrip("/")):
        return STATIC
    return UNMATCHED


_children: dict[tuple[str, str, int], tuple] = {}


def request_observe(route: str, method: str, status: int, seconds: float) -> None:
    """Count one answered request and its time (the middleware's, and the stream worker's for
    a board page it answers from the page cache without calling Django)."""
    key = (route, method if method in METHODS else "other", status)
    children = _children.get(key)
    if children is None:  # labels() looks its child up under a lock: once per label set
        children = (REQUESTS.labels(key[0], key[1], str(status)), REQUEST_DURATION.labels(key[0], key[1]))
        _children[key] = children
    children[0].inc()
    children[1].observe(seconds)


class RequestMetrics:
    """Count and time every request (the outermost middleware, so all the others are timed)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        request_observe(route_of(request), request.method, response.status_code, time.perf_counter() - started)
        return response


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus's text format: every worker's figures under multiprocess mode, else this process's."""
    if settings.PROMETHEUS_MULTIPROC_DIR:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=settings.PROMETHEUS_MULTIPROC_DIR)
    else:
        registry = REGISTRY
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
