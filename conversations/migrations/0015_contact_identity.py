"""A contact's identity per channel (channel type + address), beside the column it replaces.

On PostgreSQL the address gets a trigram index, like the contact's phone, for the inbox's number search.
"""

import django.db.models.deletion
from django.db import migrations, models


def trigram_index_create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS contact_identity_address_trgm"
        " ON conversations_contactidentity USING gin (address gin_trgm_ops)"
    )


def trigram_index_drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS contact_identity_address_trgm")


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0014_outbox_purge_indexes"),
        ("tenants", "0006_auditlogentry_event_delivery_retried"),
    ]

    operations = [
        migrations.CreateModel(
            name="ContactIdentity",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("channel_type", models.CharField(max_length=32)),
                ("address", models.CharField(max_length=64)),
                (
                    "contact",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="identities",
                        to="conversations.contact",
                    ),
                ),
                (
                    "tenant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="tenants.tenant"
                    ),
                ),
            ],
            options={"ordering": ["channel_type", "id"]},
        ),
        migrations.AddConstraint(
            model_name="contactidentity",
            constraint=models.UniqueConstraint(
                fields=("tenant", "channel_type", "address"), name="contact_identity_unique_address"
            ),
        ),
        migrations.AddConstraint(
            model_name="contactidentity",
            constraint=models.UniqueConstraint(
                fields=("tenant", "contact", "channel_type"), name="contact_identity_one_per_channel"
            ),
        ),
        migrations.RunPython(trigram_index_create, trigram_index_drop),
    ]
