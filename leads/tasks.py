"""Beat tasks of the lead domain: each runs one service over due-time rows."""

from dataclasses import asdict

from celery import shared_task

from .services import followup, intake, sla


@shared_task
def callbacks_dispatch() -> dict:
    return asdict(followup.callbacks_dispatch())


@shared_task
def sla_sweep() -> dict:
    return asdict(sla.sla_sweep())


@shared_task
def cadence_close_unreachable() -> int:
    return followup.cadence_close_unreachable()


@shared_task
def intake_receipts_purge() -> int:
    return intake.intake_receipts_purge()
