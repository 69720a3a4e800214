"""The payer list counselors pick from, seeded with the common national payers.

Admins keep it current in the admin; electronic payer ids are the ones the large
clearinghouses publish and may differ for a given clearinghouse.
"""

from django.db import migrations

PAYERS = [
    # name, electronic payer id, behavioral-health vendor
    ("Aetna", "60054", ""),
    ("Anthem Blue Cross Blue Shield", "", "Carelon Behavioral Health"),
    ("Blue Cross Blue Shield (other plans)", "", ""),
    ("Cigna", "62308", "Evernorth Behavioral Health"),
    ("UnitedHealthcare", "87726", "Optum Behavioral Health"),
    ("Humana", "61101", ""),
    ("Ambetter", "", ""),
    ("Oscar Health", "", ""),
    ("Molina Healthcare", "", ""),
    ("Centene / state Medicaid plans", "", ""),
    ("Kaiser Permanente", "", ""),
    ("Highmark", "", ""),
    ("Magellan Health", "", "Magellan Healthcare"),
    ("Beacon / Carelon Behavioral Health", "", "Carelon Behavioral Health"),
    ("TRICARE East", "", ""),
    ("TRICARE West", "", ""),
    ("Medicare", "", ""),
    ("State Medicaid (fee for service)", "", ""),
]


def seed_payers(apps, schema_editor):
    Payer = apps.get_model("leads", "Payer")
    for name, payer_id, vendor in PAYERS:
        Payer.objects.get_or_create(
            name=name,
            defaults={
                "electronic_payer_id": payer_id,
                "behavioral_health_vendor": vendor,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("leads", "0005_prescreen_vob_admission_part2")]

    operations = [migrations.RunPython(seed_payers, migrations.RunPython.noop)]
