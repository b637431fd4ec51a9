"""Suggestions move to the labeling app (labeling.Suggestion), keeping their table and rows.

1. Each suggestion gets its model version's id and number (``model_id``, ``model_version``),
   copied from its job, so labeling needs nothing of training to show where it came from.
2. ``job`` stops being a foreign key to PrelabelJob: the column ``job_id`` and its index
   stay, the constraint goes.
3. The model leaves training's state; labeling 0006 adopts the same table in its own.
"""

from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def copy_model_of_job(apps, schema_editor):
    Suggestion = apps.get_model("training", "Suggestion")
    PrelabelJob = apps.get_model("training", "PrelabelJob")
    job = PrelabelJob.objects.filter(pk=OuterRef("job_id"))
    Suggestion.objects.update(
        model_id=Subquery(job.values("model_id")[:1]),
        model_version=Subquery(job.values("model__version")[:1]),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("training", "0004_run_claim_fencing"),
    ]
    run_before = [
        ("labeling", "0006_suggestion"),
    ]

    operations = [
        migrations.AddField(
            model_name="suggestion",
            name="model_id",
            field=models.BigIntegerField(null=True),
        ),
        migrations.AddField(
            model_name="suggestion",
            name="model_version",
            field=models.PositiveIntegerField(null=True),
        ),
        migrations.RunPython(copy_model_of_job, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="suggestion",
            name="model_id",
            field=models.BigIntegerField(),
        ),
        migrations.AlterField(
            model_name="suggestion",
            name="model_version",
            field=models.PositiveIntegerField(),
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.AlterField(
                    model_name="suggestion",
                    name="job",
                    field=models.ForeignKey(
                        db_constraint=False,
                        on_delete=models.DO_NOTHING,
                        related_name="suggestions",
                        to="training.prelabeljob",
                    ),
                ),
            ],
            state_operations=[
                migrations.RemoveField(model_name="suggestion", name="job"),
                migrations.AddField(
                    model_name="suggestion",
                    name="job_id",
                    field=models.BigIntegerField(db_index=True),
                    preserve_default=False,
                ),
            ],
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[migrations.DeleteModel(name="Suggestion")],
        ),
    ]
