"""Jobs that succeeded before the outbox existed count as handed off.

Without this, the outbox sweep (which hands off succeeded jobs that have no hand-off row)
would send every historical result to today's ``send_to`` peers after an upgrade.
"""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.utils import timezone


def mark_existing(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """One hand-off row (results counted as stored) per job already succeeded."""
    job_model = apps.get_model("jobs", "Job")
    handoff = apps.get_model("dimse", "ResultHandoff")
    now = timezone.now()
    existing = job_model.objects.filter(state="succeeded").values_list("pk", flat=True)
    handoff.objects.bulk_create(
        [handoff(job_id=pk, stored_at=now) for pk in existing],
        batch_size=500,
    )


class Migration(migrations.Migration):
    dependencies = [("dimse", "0001_outbox")]

    operations = [migrations.RunPython(mark_existing, migrations.RunPython.noop)]
