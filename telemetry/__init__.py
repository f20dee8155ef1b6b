"""OpenTelemetry spans and Prometheus metrics of requests, flow steps and gateway attempts."""
