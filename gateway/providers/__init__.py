"""Provider adapters: one per HTTP API, chosen by `ProviderConfig.kind`."""

from __future__ import annotations

import httpx

from gateway.providers.anthropic import AnthropicProvider
from gateway.providers.base import Provider, ProviderConfig
from gateway.providers.openai import OpenAIProvider

PROVIDER_CLASSES: dict[str, type[Provider]] = {
    OpenAIProvider.kind: OpenAIProvider,
    AnthropicProvider.kind: AnthropicProvider,
}


def build_provider(config: ProviderConfig, client: httpx.AsyncClient) -> Provider:
    """An adapter for `config` that sends through `client` (shared, owned by the caller)."""
    try:
        provider_class = PROVIDER_CLASSES[config.kind]
    except KeyError:
        known = ", ".join(sorted(PROVIDER_CLASSES))
        raise ValueError(f"unknown provider kind {config.kind!r}; expected one of: {known}") from None
    return provider_class(config, client)
