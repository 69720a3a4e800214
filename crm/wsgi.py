import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.local")

application = get_wsgi_application()

from crm.startup import warm_and_freeze  # noqa: E402 - needs Django set up

warm_and_freeze()
