"""The contact's channel address now lives in its identities (0012, 0013): the old column goes.

Rows the previous release wrote after 0013 are filled first, with contacts and links held still (on
PostgreSQL, a SHARE lock: reads go on) while the catch-up (one anti-join per table, about 0.5 s for
100,000 contacts on a loaded machine) and the drop run.
"""

import importlib

from django.db import migrations

fill = importlib.import_module("conversations.migrations.0016_contact_identity_fill").fill


def catch_up(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        # Fresh statistics of the filled table, so the catch-up is a hash anti-join, not a scan per row.
        schema_editor.execute("ANALYZE conversations_contactidentity")
        schema_editor.execute("LOCK TABLE conversations_contact, conversations_contactinbox IN SHARE MODE")
    # One statement per table: only rows written since 0013 are missing.
    fill(apps, schema_editor, batch=2**62)
    if schema_editor.connection.vendor == "postgresql":
        # The identities' foreign keys are checked now, not at commit: the table can then be altered.
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


class Migration(migrations.Migration):
    dependencies = [("conversations", "0016_contact_identity_fill")]

    operations = [
        migrations.RunPython(catch_up, migrations.RunPython.noop),
        migrations.RemoveConstraint(model_name="contact", name="contact_unique_wa_id_per_tenant"),
        migrations.RemoveField(model_name="contact", name="wa_id"),
    ]
