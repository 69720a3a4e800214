"""Migrations that change existing data do it right."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("leads", "0001_initial"), ("crm", "0002_audit_append_only")]
AFTER = [("leads", "0002_intake_routing_callbacks")]


@pytest.mark.django_db(transaction=True)
def test_duplicate_open_leads_are_closed_before_one_open_lead_per_phone():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    Lead = old.get_model("leads", "Lead")
    first = Lead.objects.create(first_name="First", phone="+13055550142")
    second = Lead.objects.create(first_name="Second", phone="+13055550142")
    lost = Lead.objects.create(
        first_name="Lost", phone="+13055550142", stage="lost", lost_reason="spam"
    )
    other = Lead.objects.create(first_name="Other", phone="+13055550143")

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    Lead = new.get_model("leads", "Lead")

    stages = dict(Lead.objects.values_list("pk", "stage"))
    assert stages == {
        first.pk: "new",
        second.pk: "lost",
        lost.pk: "lost",
        other.pk: "new",
    }
    closed = Lead.objects.get(pk=second.pk)
    assert closed.lost_reason == "duplicate"
    assert f"#{first.pk}" in closed.closed_reason_note

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
