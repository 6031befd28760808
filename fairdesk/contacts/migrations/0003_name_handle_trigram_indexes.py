from django.db import migrations

# Search over names and handles (fairdesk/cases/search.py) is a case-insensitive substring
# match: Django's ``icontains`` writes ``UPPER("col"::text) LIKE UPPER('%term%')`` on
# PostgreSQL. A pg_trgm GIN index on exactly that expression lets the planner answer it
# from the index instead of reading every contact of the workspace. PostgreSQL only:
# SQLite has no trigram indexes and this migration does nothing there.
# The extension needs a superuser (or a trusted-extension grant) the first time;
# IF NOT EXISTS makes a database where an administrator created it already work as is.
TRIGRAM_INDEXES = {
    "contact_name_trgm_idx": ("contacts_contact", "display_name"),
    "identity_handle_trgm_idx": ("contacts_contactidentity", "handle"),
    "identity_name_trgm_idx": ("contacts_contactidentity", "display_name"),
}


def create_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, (table, column) in TRIGRAM_INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} "
            f"USING gin ((UPPER({column}::text)) gin_trgm_ops)"
        )


def drop_trigram_indexes(apps, schema_editor):
    # The extension stays: other objects may use it, and it costs nothing unused.
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in TRIGRAM_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0002_merge_and_events"),
    ]

    operations = [
        migrations.RunPython(create_trigram_indexes, drop_trigram_indexes, elidable=False),
    ]
