"""A web process loads its views and templates up front, then freezes them."""

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.template import engines

from crm.startup import project_templates

FREEZE_PROBE = """
import gc
import crm.wsgi
print(gc.get_freeze_count(), len(gc.get_objects()))
"""


def test_every_template_compiles_in_its_engine():
    templates = project_templates()

    on_disk = {
        path.relative_to(Path(settings.BASE_DIR) / "templates").as_posix()
        for path in (Path(settings.BASE_DIR) / "templates").rglob("*.html")
    }
    assert {name for _, name in templates} == on_disk
    assert ("jinja2", "leads/_queue_sections.jinja.html") in templates
    assert ("django", "leads/queue.html") in templates
    for engine, name in templates:
        engines[engine].get_template(name)


def test_the_web_process_leaves_the_collector_only_what_requests_create():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "crm.settings.test"}
    probe = subprocess.run(  # noqa: S603 - our own interpreter and probe
        [sys.executable, "-c", FREEZE_PROBE],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    frozen, still_tracked = (int(n) for n in probe.stdout.split()[-2:])

    # Modules, classes, URL patterns and compiled templates: far more than a
    # full collection should walk every few dozen requests.
    assert frozen > 50_000
    assert still_tracked < frozen // 20
