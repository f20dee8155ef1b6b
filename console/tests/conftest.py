import uuid

import pytest

from gateway.catalog import forget_catalog


@pytest.fixture(autouse=True)
def private_ledger_prefix(settings):
    """The console reads the gateway's Redis ledger under MAESTRO_GATEWAY's key prefix: give each test
    its own, so counters of other tests (or of parallel runs on the same Redis) are never read."""
    settings.MAESTRO_GATEWAY = {
        **getattr(settings, "MAESTRO_GATEWAY", {}),
        "key_prefix": f"test-{uuid.uuid4().hex[:10]}",
    }
    forget_catalog()
    yield
    forget_catalog()
