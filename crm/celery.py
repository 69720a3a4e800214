"""Celery application: `celery -A crm worker`, `celery -A crm beat`."""

import os
from pathlib import Path

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.local")

app = Celery("crm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

EMBEDDED_BROKER_FOLDERS = (
    "data_folder_in",
    "data_folder_out",
    "control_folder",
    "processed_folder",
)


@app.on_after_configure.connect
def create_embedded_broker_folders(sender: Celery, **kwargs) -> None:
    """The filesystem transport (no Redis) expects its folders to exist."""
    if not str(sender.conf.broker_url).startswith("filesystem"):
        return
    options = sender.conf.broker_transport_options or {}
    for key in EMBEDDED_BROKER_FOLDERS:
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)


@task_prerun.connect
@task_postrun.connect
def close_old_database_connections(**kwargs) -> None:
    """What Django does around each request: drop broken or too old connections."""
    from django.db import close_old_connections

    close_old_connections()
