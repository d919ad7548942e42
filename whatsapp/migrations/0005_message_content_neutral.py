"""Stored messages in Meta's shape become the core's neutral content; Meta's shape moves to ``raw``.

Runs on a live database: outside one big transaction (``atomic = False``), 1,000 rows at a time by
primary key, each batch its own short transaction locking only its rows. Rows already converted carry
the version marker and are skipped, so an interrupted run is resumed by running it again (or by
``manage.py message_content_convert``).
"""

from django.db import migrations

from whatsapp.content import messages_convert


def convert(apps, schema_editor):
    messages_convert(
        message_model=apps.get_model("conversations", "Message"),
        attachment_model=apps.get_model("conversations", "Attachment"),
        using=schema_editor.connection.alias,
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("whatsapp", "0004_remove_channel_api_base_url"),
        ("conversations", "0018_message_raw"),
    ]

    operations = [migrations.RunPython(convert, migrations.RunPython.noop, elidable=True)]
