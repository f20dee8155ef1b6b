"""Prometheus metrics: the objects other apps observe into, and the registry /metrics serves.

In multi-process mode (PROMETHEUS_MULTIPROC_DIR set, as `make run` does) counters and histograms go to
files each process writes and a scrape adds up; without it they live in the serving process. Values
that are read rather than counted (circuit states, queue depth) come from collectors the apps above
register with `register_collector`: they run at scrape time, in the process that answers /metrics.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from telemetry.multiproc import ENV

logger = logging.getLogger("maestro.telemetry")

# Seconds. Model calls are slow: buckets reach a minute.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 20.0, 30.0, 60.0)
TTFT_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0, 10.0)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

http_request_seconds = Histogram(
    "maestro_http_request_duration_seconds",
    "HTTP requests, by method, URL route and status code.",
    ["method", "route", "status"],
    buckets=REQUEST_BUCKETS,
)
gateway_call_seconds = Histogram(
    "maestro_gateway_call_duration_seconds",
    "Gateway calls from request to last token, by the model that answered and the outcome.",
    ["model", "status"],
    buckets=LATENCY_BUCKETS,
)
gateway_ttft_seconds = Histogram(
    "maestro_gateway_ttft_seconds",
    "Time to first token of streamed attempts, by model.",
    ["model"],
    buckets=TTFT_BUCKETS,
)
gateway_attempts = Counter(
    "maestro_gateway_attempts", "Attempts on a model, by outcome (ok or an error kind).", ["model", "outcome"]
)
gateway_tokens = Counter("maestro_gateway_tokens", "Tokens, by model and direction.", ["model", "direction"])
gateway_cost = Counter("maestro_gateway_cost", "Cost in the tenant's currency units, by model.", ["model"])
gateway_cache = Counter(
    "maestro_gateway_cache_lookups", "Semantic cache lookups, by purpose and result.", ["purpose", "result"]
)
gateway_refusals = Counter(
    "maestro_gateway_refusals", "Calls the gateway refused or could not complete, by reason.", ["reason"]
)

_collectors: list[Callable[[], Iterable[Metric]]] = []


def register_collector(collect: Callable[[], Iterable[Metric]]) -> None:
    """A function yielding metric families, read at every scrape (see the module's docstring)."""
    if collect not in _collectors:
        _collectors.append(collect)


class _ScrapeTime:
    def collect(self) -> Iterable[Metric]:
        for collect in list(_collectors):
            try:
                yield from collect()
            except Exception:  # one source that is down must not cost the whole scrape
                logger.exception("metrics collector %s failed", getattr(collect, "__name__", collect))


def gauge(name: str, documentation: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=labels)


def multiprocess() -> bool:
    """Whether this process writes its samples to PROMETHEUS_MULTIPROC_DIR: decided when
    prometheus_client was imported, so a variable set later (in a test, say) changes nothing."""
    return values.ValueClass is not values.MutexValue and bool(os.environ.get(ENV))


def exposition() -> bytes:
    """The text /metrics answers with."""
    if multiprocess():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_Default())
    registry.register(_ScrapeTime())
    return generate_latest(registry)


class _Default:
    """The process's own metrics (single-process mode)."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()
