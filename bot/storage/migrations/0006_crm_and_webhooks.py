from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [("models", "0008_email_domain")]

    operations = [
        ops.CreateModel(
            name='CrmContact',
            fields=[
                ('lead_id', fields.BigIntField(primary_key=True, unique=True, db_index=True)),
                ('hubspot_id', fields.CharField(max_length=50)),
                ('synced_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'crm_contacts', 'app': 'models', 'pk_attr': 'lead_id', 'table_description': 'The HubSpot contact a lead was matched to, and the newest move written to it.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='CrmOwner',
            fields=[
                ('user_id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=50)),
                ('email', fields.CharField(null=True, max_length=320)),
                ('owner_id', fields.CharField(null=True, max_length=50)),
                ('checked_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'crm_owners', 'app': 'models', 'pk_attr': 'user_id', 'table_description': "A rep's HubSpot owner, looked up by their Slack email (no owner_id: no match)."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookEndpoint',
            fields=[
                ('name', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=50)),
                ('url', fields.CharField(max_length=2000)),
                ('failing_since', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('marked_failing_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_error', fields.TextField(null=True, unique=False)),
                ('last_success_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'webhook_endpoints', 'app': 'models', 'pk_attr': 'name', 'table_description': 'Health of one subscriber endpoint: failing after an hour of errors, fine once it answers.'},
            bases=['Model'],
        ),
    ]
