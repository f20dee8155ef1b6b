"""The Celery application. Tasks are discovered in each installed app's tasks.py."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
if os.environ["DJANGO_SETTINGS_MODULE"] == "config.settings.base" and not os.environ.get("DATABASE_URL"):
    # A worker started by hand on a development machine: use the embedded services.
    from config import embedded

    embedded.configure_environment()

app = Celery("maestro")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
