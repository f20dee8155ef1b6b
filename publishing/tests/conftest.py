"""The fake LinkedIn for publishing's tests: one server per session, reset for each test, and Maestro's
settings pointed at it."""

from __future__ import annotations

import pytest

from testing.fake_linkedin import FakeLinkedIn


@pytest.fixture(scope="session")
def fake_linkedin_server():
    with FakeLinkedIn.start() as fake:
        yield fake


@pytest.fixture
def fake_linkedin(fake_linkedin_server, settings):
    fake_linkedin_server.reset()
    settings.MAESTRO_LINKEDIN = fake_linkedin_server.settings()
    yield fake_linkedin_server
    fake_linkedin_server.reset()
