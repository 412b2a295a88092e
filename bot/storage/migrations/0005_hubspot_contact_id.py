"""Keep the HubSpot contact id on the lead (indexed: write-back and events look leads up by it)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0003_outbox_fencing')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Lead',
            name='hubspot_contact_id',
            field=fields.CharField(null=True, db_index=True, max_length=40),
        ),
    ]
