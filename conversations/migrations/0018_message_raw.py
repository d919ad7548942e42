from django.db import migrations, models


def short_lock_wait(apps, schema_editor):
    # Adding a nullable column only changes the catalogue, but it waits for the table's lock behind
    # any long transaction, and every query on messages would queue behind it: give up after 1 s
    # instead (the migration is then run again), so the inbox is never held up longer than that.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("SET LOCAL lock_timeout = '1s'")


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0017_contact_drop_wa_id"),
    ]

    operations = [
        migrations.RunPython(short_lock_wait, migrations.RunPython.noop, elidable=True),
        migrations.AddField(
            model_name="message",
            name="raw",
            field=models.JSONField(blank=True, null=True),
        ),
    ]
