"""GET /metrics: Prometheus' text format, for a scraper holding the bearer token.

    scrape_configs: [{job_name: maestro, authorization: {credentials_file: /run/secrets/metrics}, ...}]

Without MAESTRO_METRICS_TOKEN the endpoint answers 404: metrics name models and tenants' volumes, so
they are never public by accident.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from telemetry import metrics


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "details": {}}}, status=status)


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    token = getattr(settings, "MAESTRO_METRICS_TOKEN", None) or ""
    if not token:
        return _error(404, "not_found", "Metrics are off: set MAESTRO_METRICS_TOKEN to serve them.")
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), token.encode()):
        response = _error(401, "not_authenticated", "Send the token as 'Authorization: Bearer <token>'.")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)
