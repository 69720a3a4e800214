"""Make the audit trail append-only in the database itself.

The model refuses updates and deletes, but a queryset `.update()` or raw SQL would
not ask it. PostgreSQL refuses UPDATE and DELETE by trigger. SQLite (local only)
refuses UPDATE; DELETE stays possible there because Django's test flush empties
tables with DELETE, while PostgreSQL's flush uses TRUNCATE, which row triggers
do not see.
"""

from django.db import migrations

POSTGRES_UP = [
    """
    CREATE OR REPLACE FUNCTION crm_auditevent_append_only() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION 'crm_auditevent is append-only';
    END;
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER crm_auditevent_append_only
        BEFORE UPDATE OR DELETE ON crm_auditevent
        FOR EACH ROW EXECUTE FUNCTION crm_auditevent_append_only()
    """,
]
POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS crm_auditevent_append_only ON crm_auditevent",
    "DROP FUNCTION IF EXISTS crm_auditevent_append_only()",
]
SQLITE_UP = [
    """
    CREATE TRIGGER crm_auditevent_no_update BEFORE UPDATE ON crm_auditevent
    BEGIN
        SELECT RAISE(ABORT, 'crm_auditevent is append-only');
    END
    """,
]
SQLITE_DOWN = ["DROP TRIGGER IF EXISTS crm_auditevent_no_update"]
STATEMENTS = {
    "postgresql": (POSTGRES_UP, POSTGRES_DOWN),
    "sqlite": (SQLITE_UP, SQLITE_DOWN),
}


def forwards(apps, schema_editor):
    up, _ = STATEMENTS.get(schema_editor.connection.vendor, ([], []))
    for statement in up:
        schema_editor.execute(statement, params=None)


def backwards(apps, schema_editor):
    _, down = STATEMENTS.get(schema_editor.connection.vendor, ([], []))
    for statement in down:
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("crm", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
