from django.apps import AppConfig

from orchestrator.observability import queue_depth_metrics
from telemetry.metrics import register_collector


class OrchestratorConfig(AppConfig):
    name = "orchestrator"
    verbose_name = "Generation flows"

    def ready(self) -> None:
        register_collector(queue_depth_metrics)
