from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from api.tests.factories import make_created_key
from gateway.catalog import forget_catalog


@pytest.fixture(autouse=True)
def _isolated_limits_and_fast_embeddings(settings):
    """Own Redis keys per test (rate limits, budgets) and the hashing embedder (no model to load)."""
    settings.MAESTRO_GATEWAY = {"key_prefix": f"test-api-{uuid.uuid4().hex[:10]}", "trace_flush_seconds": 0}
    settings.MAESTRO_EMBEDDINGS = {**settings.MAESTRO_EMBEDDINGS, "backend": "hashing"}
    forget_catalog()
    yield
    forget_catalog()


@pytest.fixture
def api_for():
    """An API client sending a fresh key of `tenant`: `api_for(tenant, scopes=[...], **key fields)`."""

    def make(tenant, **fields) -> APIClient:
        created = make_created_key(tenant=tenant, **fields)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {created.token}")
        client.key = created.key
        client.token = created.token
        return client

    return make


@pytest.fixture
def gateway_loop_cleanup():
    """For live-server tests that stream: the process-wide gateway loop reaches the database through
    asgiref's single sync thread, whose connection would keep the test database from being dropped.
    Stop the loop (flushing its traces) and close that thread's connections after the test.
    (Close SDK clients too: a kept-alive HTTP connection keeps a live-server thread and its
    database connection open.)"""
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    from gateway import loop as gateway_loop

    gateway_loop.shutdown()
    SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=10)
