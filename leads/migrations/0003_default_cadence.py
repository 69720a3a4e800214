from datetime import time

from django.db import migrations

# The default follow-up after an unanswered first call: attempts 1-6.
DEFAULT_STEPS = [
    {"attempt": 1, "after_minutes": 5, "leave_voicemail": True},
    {"attempt": 2, "after_minutes": 30, "leave_voicemail": True, "send_text": True},
    {"attempt": 3, "after_minutes": 120},
    {"attempt": 4, "on_day": 1, "at_local_time": time(10, 0)},
    {"attempt": 5, "on_day": 3, "at_local_time": time(10, 0)},
    {"attempt": 6, "on_day": 5, "at_local_time": time(10, 0)},
]


def create_default_cadence(apps, schema_editor):
    Cadence = apps.get_model("leads", "Cadence")
    CadenceStep = apps.get_model("leads", "CadenceStep")
    db = schema_editor.connection.alias
    if Cadence.objects.using(db).filter(is_default=True).exists():
        return
    cadence = Cadence.objects.using(db).create(
        name="Standard follow-up", is_default=True, max_attempts=6
    )
    CadenceStep.objects.using(db).bulk_create(
        [CadenceStep(cadence=cadence, **step) for step in DEFAULT_STEPS]
    )


class Migration(migrations.Migration):
    dependencies = [("leads", "0002_intake_routing_callbacks")]

    operations = [
        migrations.RunPython(create_default_cadence, migrations.RunPython.noop),
    ]
