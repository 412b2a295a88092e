"""Outbox fencing: a lease token per lease, a priority (cards first), indexes for the scan."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.AddField(
            model_name='OutboxItem',
            name='lease_token',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='OutboxItem',
            name='priority',
            field=fields.SmallIntField(default=1),
        ),
        ops.AddIndex(
            model_name='OutboxItem',
            index=Index(fields=['status', 'priority', 'id']),
        ),
        ops.AddIndex(
            model_name='OutboxItem',
            index=Index(fields=['lead_id', 'status', 'id']),
        ),
    ]
