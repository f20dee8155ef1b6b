"""Settings of a real web server process started by a test (tests/test_server.py): the test's own
database (pytest-django created it; the test commits its rows), and gateway tunables from the
MAESTRO_TEST_GATEWAY environment variable (JSON), so a test can, say, hold traces back."""

import json
import os

from config.settings.test import *  # noqa: F403
from config.settings.test import DATABASES

DATABASES["default"]["NAME"] = DATABASES["default"]["TEST"]["NAME"]
DEBUG = False  # as pytest-django runs the tests, and as production serves
MAESTRO_GATEWAY = json.loads(os.environ.get("MAESTRO_TEST_GATEWAY", "{}"))
