"""pytest fixtures for the gateway's tests (registered by the root conftest.py)."""

from __future__ import annotations

import pytest

from orchestrator.testing.fake_provider import FakeProvider


@pytest.fixture(scope="session")
def fake_provider_server():
    """One fake provider server for the whole session (per xdist worker)."""
    with FakeProvider.start() as fake:
        yield fake


@pytest.fixture
def fake_provider(fake_provider_server):
    """The session's fake provider with no behaviours and no recorded requests."""
    fake_provider_server.reset()
    yield fake_provider_server
    fake_provider_server.reset()
