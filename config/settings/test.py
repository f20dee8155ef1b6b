"""Test settings: a real PostgreSQL with pgvector and a real Redis, never SQLite.

With no DATABASE_URL the suite starts its own embedded PostgreSQL (data in
.data/pg-test, separate from the development data); with no REDIS_URL it uses
Redis on localhost:6379 or starts one. Doing this here, rather than in a
conftest hook, guarantees it happens before Django reads DATABASES.
"""

import os

from config import embedded

embedded.configure_environment(pg_name="pg-test")
os.environ.setdefault("REDIS_URL", embedded.DEFAULT_REDIS_URL)

from .base import *  # noqa: E402, F403
from .base import DATABASES, MAESTRO_GATEWAY, REDIS_TRANSPORT_OPTIONS, REDIS_URL  # noqa: E402

# Parallel runs on one machine (several checkouts, helpers) each name their own test database.
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("MAESTRO_TEST_DB", "test_maestro")}

# Tests use their own Redis database so that flushing it never touches development data.
REDIS_URL = REDIS_URL.rsplit("/", 1)[0] + "/15"
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
# A queue per test database, so parallel runs on one machine never take each other's tasks; and a
# short visibility timeout so a task of a killed worker is redelivered within the test.
CELERY_TASK_DEFAULT_QUEUE = f"maestro-{DATABASES['default']['TEST']['NAME']}"
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("MAESTRO_VISIBILITY_TIMEOUT", "3600")),
    # kombu scans for unacknowledged messages only every interval x throttle seconds (100 s by
    # default); a test that kills a worker needs its task back within seconds.
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
    **REDIS_TRANSPORT_OPTIONS,
}
# The gateway's Redis keys (limits, budgets, calls in flight) per test database too: parallel runs and
# their worker processes never see each other's.
MAESTRO_GATEWAY = {**MAESTRO_GATEWAY, "key_prefix": f"maestro-{DATABASES['default']['TEST']['NAME']}"}
MAESTRO_ALLOW_PRIVATE_NETWORKS = True  # tests call fake providers and endpoints on loopback
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed: tests hash many passwords
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
AXES_FAILURE_LIMIT = 3
