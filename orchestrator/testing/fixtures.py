"""pytest fixtures for the gateway's tests (registered by the root conftest.py)."""
