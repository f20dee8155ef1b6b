from django.apps import AppConfig

from telemetry.metrics import register_collector


class GatewayConfig(AppConfig):
    name = "gateway"
    verbose_name = "LLM gateway"

    def ready(self) -> None:
        from gateway.observability import circuit_metrics  # imports models: after the registry is ready

        register_collector(circuit_metrics)
