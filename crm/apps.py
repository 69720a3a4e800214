from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "Call center"

    def ready(self) -> None:
        from . import db

        db.install()
