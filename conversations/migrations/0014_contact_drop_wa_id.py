"""The contact's channel address now lives in its identities (0012, 0013): the old column goes."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("conversations", "0013_contact_identity_fill")]

    operations = [
        migrations.RemoveConstraint(model_name="contact", name="contact_unique_wa_id_per_tenant"),
        migrations.RemoveField(model_name="contact", name="wa_id"),
    ]
