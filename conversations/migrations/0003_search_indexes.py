"""Search indexes of the inbox list, on PostgreSQL only (SQLite, the embedded default, scans).

Contact names and numbers: trigram GIN indexes (substring search). Message text: a full-text GIN
index on ``to_tsvector('simple', text)``, the same expression the search query uses.
"""

from django.db import migrations

# (name, table, expression): each expression is exactly what the search query's SQL contains.
INDEXES = [
    ("contact_name_trgm", "conversations_contact", "UPPER(name) gin_trgm_ops"),
    ("contact_profile_name_trgm", "conversations_contact", "UPPER(profile_name) gin_trgm_ops"),
    ("contact_phone_trgm", "conversations_contact", "phone_e164 gin_trgm_ops"),
    ("contact_wa_id_trgm", "conversations_contact", "wa_id gin_trgm_ops"),
    ("message_text_fts", "conversations_message", "to_tsvector('simple'::regconfig, COALESCE(text, ''))"),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, expression in INDEXES:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({expression})")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table, _expression in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("conversations", "0002_inbox")]

    operations = [migrations.RunPython(create, drop)]
