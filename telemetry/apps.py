from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from telemetry import celery_signals, tracing  # noqa: F401 - celery_signals connects Celery's signals

MIN_TOKEN_LENGTH = 16


class TelemetryConfig(AppConfig):
    name = "telemetry"
    verbose_name = "Telemetry"

    def ready(self) -> None:
        token = getattr(settings, "MAESTRO_METRICS_TOKEN", None) or ""
        if token and len(token) < MIN_TOKEN_LENGTH:
            raise ImproperlyConfigured(
                f"MAESTRO_METRICS_TOKEN has {len(token)} characters; use at least {MIN_TOKEN_LENGTH} "
                "(for example: python -c 'import secrets; print(secrets.token_urlsafe(32))')."
            )
        tracing.configure()
